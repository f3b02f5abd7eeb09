//! The channel between kiln and its guest agent: frames of one kind byte, a 4-byte
//! big-endian length and at most [`MAX_FRAME`] bytes of payload. Everything the guest sends
//! is hostile: a frame of an unknown kind or over the limit ends the channel.

use std::io::{self, Read, Write};

/// Largest payload of one frame.
pub const MAX_FRAME: usize = 1 << 20;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Guest → host, once after boot: [`crate::message::Hello`].
    Hello,
    /// Host → guest: a layer follows as [`Kind::Data`] frames ([`crate::message::LayerHeader`]).
    Layer,
    /// Host → guest: a mount's files follow as a tar in [`Kind::Data`] frames.
    Mount,
    /// A piece of a stream (a layer blob, a mount's tar, a step's changes).
    Data,
    /// The end of a stream of [`Kind::Data`] frames.
    End,
    /// Host → guest: run a step ([`crate::message::GuestStep`]).
    Step,
    /// Guest → host: the step's standard output.
    Stdout,
    /// Guest → host: the step's standard error.
    Stderr,
    /// Guest → host: how the step ended ([`kiln_sandbox::Exit`]).
    Exit,
    /// Guest → host: the agent could not do what it was asked (a message).
    Failed,
    /// Guest → host: the step's root filesystem holds what the sandbox cannot set up on
    /// (a mount point that is a dangling symlink): the input's fault (a message).
    Rejected,
    /// Guest → host: a step connected to its forwarded ssh-agent socket
    /// ([`crate::forward::AgentOpen`]).
    AgentOpen,
    /// Either way: bytes of a forwarded connection (its number, 4 bytes big-endian, first).
    AgentData,
    /// Either way: a forwarded connection's sender is done (its number).
    AgentClose,
}

impl Kind {
    const ALL: [Kind; 14] = [
        Kind::Hello,
        Kind::Layer,
        Kind::Mount,
        Kind::Data,
        Kind::End,
        Kind::Step,
        Kind::Stdout,
        Kind::Stderr,
        Kind::Exit,
        Kind::Failed,
        Kind::AgentOpen,
        Kind::AgentData,
        Kind::AgentClose,
        Kind::Rejected,
    ];

    fn byte(self) -> u8 {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0) as u8 + 1
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(b).checked_sub(1)?).copied()
    }
}

/// Send one frame.
pub fn write_frame(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::other("a frame over the channel's limit"));
    }
    let mut head = [0u8; 5];
    head[0] = kind.byte();
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()
}

/// Receive one frame; an unknown kind or a length over [`MAX_FRAME`] is an error.
pub fn read_frame(r: &mut impl Read) -> io::Result<(Kind, Vec<u8>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let kind = Kind::from_byte(head[0])
        .ok_or_else(|| invalid(format!("a frame of unknown kind {}", head[0])))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(invalid(format!(
            "a frame of {len} bytes (the limit is {MAX_FRAME})"
        )));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok((kind, payload))
}

pub(crate) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Send `value` as JSON in one frame.
pub fn send_json<T: serde::Serialize>(w: &mut impl Write, kind: Kind, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_frame(w, kind, &bytes)
}

/// The JSON payload of a frame.
pub fn parse_json<T: serde::de::DeserializeOwned>(payload: &[u8]) -> io::Result<T> {
    serde_json::from_slice(payload).map_err(|e| invalid(format!("a malformed message: {e}")))
}

/// A [`Write`] that sends what it is given as [`Kind::Data`] frames; [`DataWriter::end`]
/// sends the [`Kind::End`] frame.
#[derive(Debug)]
pub struct DataWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
}

const DATA_CHUNK: usize = 256 * 1024;

impl<W: Write> DataWriter<W> {
    pub fn new(w: W) -> DataWriter<W> {
        DataWriter {
            w,
            buf: Vec::with_capacity(DATA_CHUNK),
        }
    }

    /// Send what is buffered and the end of the stream; gives the channel back.
    pub fn end(mut self) -> io::Result<W> {
        self.send()?;
        write_frame(&mut self.w, Kind::End, &[])?;
        Ok(self.w)
    }

    fn send(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            write_frame(&mut self.w, Kind::Data, &self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: Write> Write for DataWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(DATA_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == DATA_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`Read`] over [`Kind::Data`] frames up to the [`Kind::End`] frame; any other frame
/// in between is an error.
#[derive(Debug)]
pub struct DataReader<R: Read> {
    r: R,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: Read> DataReader<R> {
    pub fn new(r: R) -> DataReader<R> {
        DataReader {
            r,
            chunk: Vec::new(),
            at: 0,
            ended: false,
        }
    }

    /// Read to the end of the stream (what is left is dropped); gives the channel back.
    pub fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.r)
    }
}

impl<R: Read> Read for DataReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match read_frame(&mut self.r)? {
                (Kind::Data, data) => (self.chunk, self.at) = (data, 0),
                (Kind::End, _) => self.ended = true,
                (Kind::Failed, why) => {
                    return Err(io::Error::other(String::from_utf8_lossy(&why).into_owned()))
                }
                (kind, _) => return Err(invalid(format!("a {kind:?} frame inside a stream"))),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stream_crosses_in_chunks_and_ends() {
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let mut w = DataWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let mut wire = w.end().unwrap();
        write_frame(&mut wire, Kind::Exit, b"{}").unwrap();
        let mut r = DataReader::new(&wire[..]);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
        let mut rest = r.finish().unwrap();
        assert_eq!(read_frame(&mut rest).unwrap().0, Kind::Exit);
    }

    #[test]
    fn hostile_frames_are_refused() {
        let long = [4u8, 0x00, 0x20, 0x00, 0x01];
        let e = read_frame(&mut &long[..]).unwrap_err();
        assert!(e.to_string().contains("the limit is"), "{e}");
        let unknown = [99u8, 0, 0, 0, 0];
        assert!(read_frame(&mut &unknown[..]).is_err());
        let mut wire = Vec::new();
        write_frame(&mut wire, Kind::Stdout, b"x").unwrap();
        let mut r = DataReader::new(&wire[..]);
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert!(e.to_string().contains("inside a stream"), "{e}");
    }
}
