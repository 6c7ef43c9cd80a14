//! Loss recovery under bursts of loss, as a browser's overflowing UDP receive
//! buffer causes them (see PATCHED.md).

use super::*;
use crate::chunk::chunk_selective_ack::GapAckBlock;

/// An association that has sent `count` one-chunk messages, TSNs returned in order.
fn sent(a: &mut Association, now: Instant, count: usize) -> Result<Vec<u32>> {
    let ppi = PayloadProtocolIdentifier::Binary;
    let mut stream = match a.stream(1) {
        Ok(s) => s,
        Err(_) => a.open_stream(1, ppi)?,
    };
    for _ in 0..count {
        stream.write_sctp(now, &Bytes::from(vec![5; 1000]), ppi)?;
    }
    let tsns: Vec<u32> = transmitted_data(&a.gather_outbound(now).0)
        .iter()
        .map(|c| c.tsn)
        .collect();
    assert_eq!(count, tsns.len());
    Ok(tsns)
}

fn sack(a: &mut Association, cum: u32, gap_end: u16, now: Instant) -> Result<()> {
    a.handle_sack(
        &ChunkSelectiveAck {
            cumulative_tsn_ack: cum,
            advertised_receiver_window_credit: 1 << 20,
            gap_ack_blocks: vec![GapAckBlock {
                start: 2,
                end: gap_end,
            }],
            ..Default::default()
        },
        now,
    )?;
    Ok(())
}

fn resent(a: &mut Association, now: Instant) -> Vec<u32> {
    transmitted_data(&a.gather_outbound(now).0)
        .iter()
        .map(|c| c.tsn)
        .collect()
}

fn association() -> Association {
    let mut a = timed_test_association();
    a.cwnd = 40 * a.mtu;
    a.ssthresh = a.cwnd;
    a.rwnd = 1 << 20;
    a
}

#[test]
fn a_retransmission_lost_again_is_repaired_without_the_timer() -> Result<()> {
    let mut a = association();
    let now = Instant::now();
    let t = sent(&mut a, now, 10)?;
    // t[0] is lost: three SACKs acknowledge t[1], t[2], t[3].
    for end in 2..=4 {
        sack(&mut a, t[0] - 1, end, now)?;
    }
    assert_eq!(vec![t[0]], resent(&mut a, now));
    // Control: acknowledging what was sent before that retransmission (t[4] to
    // t[9]) is no evidence that it was lost.
    sack(&mut a, t[0] - 1, 10, now)?;
    assert_eq!(0, a.inflight_queue.get(t[0]).unwrap().miss_indicator);
    assert!(resent(&mut a, now).is_empty());
    // The retransmission is lost too: three SACKs acknowledge newer DATA.
    let newer = sent(&mut a, now, 3)?;
    for end in 11..=13 {
        sack(&mut a, t[0] - 1, end, now)?;
    }
    assert_eq!(newer[0], t[10 - 1] + 1);
    assert_eq!(
        vec![t[0]],
        resent(&mut a, now),
        "sent a third time on three new reports, not on the T3-rtx timer"
    );
    assert_eq!(3, a.inflight_queue.get(t[0]).unwrap().nsent);
    Ok(())
}

#[test]
fn one_burst_of_losses_halves_the_window_once() -> Result<()> {
    let mut a = association();
    let now = Instant::now();
    let t = sent(&mut a, now, 10)?;
    // t[0] and t[5] are lost. t[1], t[2], t[3] are acknowledged: fast recovery.
    for end in 2..=4 {
        sack(&mut a, t[0] - 1, end, now)?;
    }
    assert!(a.in_fast_recovery);
    let halved = a.cwnd;
    assert_eq!(vec![t[0]], resent(&mut a, now));
    // The repair arrives (cumulative ack to t[4]), then t[6], t[7], t[8]: t[5] is
    // reported missing three times while the recovery of the same burst goes on.
    for end in 2..=4 {
        sack(&mut a, t[4], end, now)?;
    }
    assert!(a.in_fast_recovery, "recovery lasts to the highest TSN outstanding");
    assert_eq!(halved, a.cwnd, "the second loss of one burst must not halve again");
    assert_eq!(vec![t[5]], resent(&mut a, now));
    Ok(())
}
