//! Native-messaging framing: a 32-bit length in native byte order, then that many
//! bytes of UTF-8 JSON. The browser may send up to 64 MiB; the host may send at
//! most 1 MiB.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest browser→host message accepted.
pub const MAX_INCOMING: u32 = 64 * 1024 * 1024;
/// Largest host→browser message the browser accepts.
pub const MAX_OUTGOING: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The browser closed the pipe between messages: a normal end.
    #[error("the browser closed the connection")]
    Closed,
    #[error("a message of {0} bytes is larger than the {MAX_INCOMING} accepted")]
    TooLarge(u32),
    #[error("the connection broke inside a message: {0}")]
    Truncated(std::io::Error),
    #[error("the host tried to send {0} bytes, more than the {MAX_OUTGOING} a browser accepts")]
    OutgoingTooLarge(usize),
    #[error("cannot write to the browser: {0}")]
    Write(std::io::Error),
}

/// Reads one message body. The length is checked before anything is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Truncated(e)),
    }
    let len = u32::from_ne_bytes(len);
    if len > MAX_INCOMING {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = Vec::new();
    r.take(len as u64)
        .read_to_end(&mut body)
        .await
        .map_err(FrameError::Truncated)?;
    if body.len() != len as usize {
        return Err(FrameError::Truncated(std::io::Error::from(
            std::io::ErrorKind::UnexpectedEof,
        )));
    }
    Ok(body)
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), FrameError> {
    if body.len() > MAX_OUTGOING {
        return Err(FrameError::OutgoingTooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_ne_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame).await.map_err(FrameError::Write)?;
    w.flush().await.map_err(FrameError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let mut buf = Vec::new();
        write_frame(&mut buf, br#"{"type":"hello"}"#).await.unwrap();
        write_frame(&mut buf, b"").await.unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).await.unwrap(), br#"{"type":"hello"}"#);
        assert_eq!(read_frame(&mut r).await.unwrap(), b"");
        assert!(matches!(read_frame(&mut r).await, Err(FrameError::Closed)));

        let huge = (MAX_INCOMING + 1).to_ne_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(FrameError::TooLarge(_))
        ));
        let mut short = 10u32.to_ne_bytes().to_vec();
        short.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut &short[..]).await,
            Err(FrameError::Truncated(_))
        ));
        assert!(matches!(
            read_frame(&mut &[1u8, 0][..]).await,
            Err(FrameError::Closed)
        ));
        let big = vec![b' '; MAX_OUTGOING + 1];
        assert!(matches!(
            write_frame(&mut Vec::new(), &big).await,
            Err(FrameError::OutgoingTooLarge(_))
        ));
    }
}
