//! Four SHA-256 computations at once with wasm SIMD (`simd128`), for hashing four
//! independent 16 KiB leaves together. A browser tab has no SHA instructions and one
//! thread; the four 32-bit lanes of a v128 are the parallelism left. Each lane runs the
//! ordinary FIPS 180-4 compression on its own message.

use core::arch::wasm32::*;

use super::BLOCK_SIZE;

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[inline(always)]
fn rotr<const N: u32>(x: v128) -> v128 {
    v128_or(u32x4_shr(x, N), i32x4_shl(x, 32 - N))
}

#[inline(always)]
fn add(a: v128, b: v128) -> v128 {
    i32x4_add(a, b)
}

#[inline(always)]
fn big_sigma0(a: v128) -> v128 {
    v128_xor(v128_xor(rotr::<2>(a), rotr::<13>(a)), rotr::<22>(a))
}

#[inline(always)]
fn big_sigma1(e: v128) -> v128 {
    v128_xor(v128_xor(rotr::<6>(e), rotr::<11>(e)), rotr::<25>(e))
}

#[inline(always)]
fn small_sigma0(x: v128) -> v128 {
    v128_xor(v128_xor(rotr::<7>(x), rotr::<18>(x)), u32x4_shr(x, 3))
}

#[inline(always)]
fn small_sigma1(x: v128) -> v128 {
    v128_xor(v128_xor(rotr::<17>(x), rotr::<19>(x)), u32x4_shr(x, 10))
}

/// One round, with the working variables renamed instead of shifted.
macro_rules! round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
     $w:expr, $k:expr) => {
        let t1 = add(
            add(
                add($h, big_sigma1($e)),
                add(v128_bitselect($f, $g, $e), u32x4_splat($k)),
            ),
            $w,
        );
        // Where a and b differ the majority is c, elsewhere it is a.
        let t2 = add(big_sigma0($a), v128_bitselect($c, $a, v128_xor($a, $b)));
        $d = add($d, t1);
        $h = add(t1, t2);
    };
}

/// Sixteen rounds over the current schedule window, starting at round `base`.
macro_rules! sixteen {
    ($w:ident, $base:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident,
     $g:ident, $h:ident) => {
        round!($a, $b, $c, $d, $e, $f, $g, $h, $w[0], K[$base]);
        round!($h, $a, $b, $c, $d, $e, $f, $g, $w[1], K[$base + 1]);
        round!($g, $h, $a, $b, $c, $d, $e, $f, $w[2], K[$base + 2]);
        round!($f, $g, $h, $a, $b, $c, $d, $e, $w[3], K[$base + 3]);
        round!($e, $f, $g, $h, $a, $b, $c, $d, $w[4], K[$base + 4]);
        round!($d, $e, $f, $g, $h, $a, $b, $c, $w[5], K[$base + 5]);
        round!($c, $d, $e, $f, $g, $h, $a, $b, $w[6], K[$base + 6]);
        round!($b, $c, $d, $e, $f, $g, $h, $a, $w[7], K[$base + 7]);
        round!($a, $b, $c, $d, $e, $f, $g, $h, $w[8], K[$base + 8]);
        round!($h, $a, $b, $c, $d, $e, $f, $g, $w[9], K[$base + 9]);
        round!($g, $h, $a, $b, $c, $d, $e, $f, $w[10], K[$base + 10]);
        round!($f, $g, $h, $a, $b, $c, $d, $e, $w[11], K[$base + 11]);
        round!($e, $f, $g, $h, $a, $b, $c, $d, $w[12], K[$base + 12]);
        round!($d, $e, $f, $g, $h, $a, $b, $c, $w[13], K[$base + 13]);
        round!($c, $d, $e, $f, $g, $h, $a, $b, $w[14], K[$base + 14]);
        round!($b, $c, $d, $e, $f, $g, $h, $a, $w[15], K[$base + 15]);
    };
}

/// Advances the message schedule by sixteen words, in place.
#[inline(always)]
fn next_schedule(w: &mut [v128; 16]) {
    for i in 0..16 {
        let v = add(
            add(w[i], small_sigma0(w[(i + 1) % 16])),
            add(w[(i + 9) % 16], small_sigma1(w[(i + 14) % 16])),
        );
        w[i] = v;
    }
}

#[inline(always)]
fn compress(state: &mut [v128; 8], block: &[v128; 16]) {
    let mut w = *block;
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    sixteen!(w, 0, a, b, c, d, e, f, g, h);
    next_schedule(&mut w);
    sixteen!(w, 16, a, b, c, d, e, f, g, h);
    next_schedule(&mut w);
    sixteen!(w, 32, a, b, c, d, e, f, g, h);
    next_schedule(&mut w);
    sixteen!(w, 48, a, b, c, d, e, f, g, h);
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = add(*s, v);
    }
}

/// Sixteen bytes of a block as four big-endian words.
#[inline(always)]
fn load_be(bytes: &[u8]) -> v128 {
    let sixteen = &bytes[..16];
    // SAFETY: `sixteen` is 16 readable bytes; v128_load has no alignment requirement.
    let v = unsafe { v128_load(sixteen.as_ptr() as *const v128) };
    i8x16_swizzle(
        v,
        i8x16(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12),
    )
}

/// Message words `4k..4k+4` of a 64-byte chunk, one vector per word, one lane per
/// block: a 4×4 transpose of the four blocks' rows.
#[inline(always)]
fn words(blocks: &[&[u8]; 4], at: usize) -> [v128; 4] {
    let [r0, r1, r2, r3] = blocks.map(|b| load_be(&b[at..]));
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
    [
        i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
        i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
        i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
        i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
    ]
}

/// SHA-256 of four full 16 KiB blocks. Callers pass exactly `BLOCK_SIZE` bytes each.
pub fn hash_four_blocks(blocks: [&[u8]; 4]) -> [[u8; 32]; 4] {
    debug_assert!(blocks.iter().all(|b| b.len() == BLOCK_SIZE as usize));
    let mut state = H0.map(|h| u32x4_splat(h));
    let mut m = [u32x4_splat(0); 16];
    for chunk in (0..BLOCK_SIZE as usize).step_by(64) {
        for k in 0..4 {
            m[4 * k..4 * k + 4].copy_from_slice(&words(&blocks, chunk + 16 * k));
        }
        compress(&mut state, &m);
    }
    // Padding: a 1 bit, zeros, and the 64-bit length (16 KiB is a multiple of 64
    // bytes, so the padding fills a block of its own).
    let mut pad = [u32x4_splat(0); 16];
    pad[0] = u32x4_splat(0x8000_0000);
    pad[15] = u32x4_splat(BLOCK_SIZE * 8);
    compress(&mut state, &pad);

    let mut out = [[0u8; 32]; 4];
    for (i, s) in state.iter().enumerate() {
        let lanes = [
            u32x4_extract_lane::<0>(*s),
            u32x4_extract_lane::<1>(*s),
            u32x4_extract_lane::<2>(*s),
            u32x4_extract_lane::<3>(*s),
        ];
        for (lane, v) in lanes.iter().enumerate() {
            out[lane][4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
    out
}
