//! Hands chunks of an attachment's bytes to a helper thread, so that producing them
//! (decoding base64, inflating) overlaps with consuming them (writing the staged ZIP,
//! hashing the extracted file). Owns the helper thread and a fixed set of reusable buffers:
//! no more than [`BUFFER_COUNT`] chunks ever exist, so memory stays bounded whatever the
//! size of the stream, and a producer that gets ahead waits for a buffer to come back.
//! Does not know what the bytes mean.
//!
//! A pipeline starts *inline*: chunks are consumed on the caller's thread, so a small
//! attachment pays for no thread. [`ChunkPipeline::start_helper`] moves the consumer to a
//! helper thread; when no thread can be started the pipeline simply stays inline. Dropping
//! a pipeline waits for its helper, so whatever the consumer owns (a staged file) is gone
//! when the drop returns, on error paths too.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

/// How many chunk buffers one pipeline may allocate: enough that neither side waits for
/// the other in steady state, few enough that the memory stays small.
const BUFFER_COUNT: usize = 4;

/// The size of a helper's chunk: large, because every hand-over may wake a sleeping
/// thread, and a wake-up costs as much as copying tens of kilobytes.
const BUFFER_BYTES: usize = 1024 * 1024;

/// What the helper thread does with each chunk.
pub(crate) trait ChunkConsumer: Send + 'static {
    fn consume(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl ChunkConsumer for ring::digest::Context {
    fn consume(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.update(bytes);
        Ok(())
    }
}

/// A filled buffer on its way to the helper; only `bytes[..length]` is meaningful.
struct Chunk {
    bytes: Vec<u8>,
    length: usize,
}

enum Mode<C> {
    /// Committed bytes are consumed at once, on the caller's thread.
    Inline { consumer: C },
    Helper {
        full: Option<Sender<Chunk>>,
        empty: Receiver<Vec<u8>>,
        allocated: usize,
        helper: Option<JoinHandle<io::Result<C>>>,
    },
    /// The helper failed, or the consumer was taken back; nothing more can be done.
    Stopped,
}

/// A consumer fed chunk by chunk, inline or on a helper thread. The producer asks for room
/// ([`ChunkPipeline::room`]), fills some of it and commits what it filled.
pub(crate) struct ChunkPipeline<C: ChunkConsumer> {
    mode: Mode<C>,
    /// The buffer being filled, and how much of it is filled.
    current: Vec<u8>,
    filled: usize,
}

impl<C: ChunkConsumer> ChunkPipeline<C> {
    /// An inline pipeline.
    pub(crate) fn new(consumer: C) -> Self {
        ChunkPipeline {
            mode: Mode::Inline { consumer },
            current: Vec::new(),
            filled: 0,
        }
    }

    /// Moves the consumer to a helper thread, unless it is there already or no thread can
    /// be started (then it stays inline, which is slower but just as correct).
    pub(crate) fn start_helper(&mut self) {
        let Mode::Inline { .. } = self.mode else {
            return;
        };
        // The consumer travels to the helper through a channel once the thread runs, so
        // that a failed start leaves it here rather than dropped with the closure.
        let (setup_sender, setup_receiver) = mpsc::channel::<C>();
        let (full_sender, full_receiver) = mpsc::channel::<Chunk>();
        let (empty_sender, empty_receiver) = mpsc::channel::<Vec<u8>>();
        let started = thread::Builder::new()
            .name("edxml-pipeline".to_owned())
            .spawn(move || {
                let mut consumer = setup_receiver
                    .recv()
                    .map_err(|_| io::Error::other("the pipeline never received its consumer"))?;
                for chunk in full_receiver {
                    consumer.consume(&chunk.bytes[..chunk.length])?;
                    // The producer may be gone already (it stopped on an error); the
                    // buffer is then simply freed.
                    let _ = empty_sender.send(chunk.bytes);
                }
                Ok(consumer)
            });
        let Ok(helper) = started else {
            return;
        };
        let Mode::Inline { consumer } = std::mem::replace(&mut self.mode, Mode::Stopped) else {
            return;
        };
        match setup_sender.send(consumer) {
            Ok(()) => {
                self.mode = Mode::Helper {
                    full: Some(full_sender),
                    empty: empty_receiver,
                    allocated: usize::from(!self.current.is_empty()),
                    helper: Some(helper),
                };
            }
            // The helper is gone before it started; carry on inline.
            Err(mpsc::SendError(consumer)) => self.mode = Mode::Inline { consumer },
        }
    }

    /// At least `at_least` bytes of room to fill, then [`commit`](Self::commit). Hands the
    /// bytes committed so far to the helper first when they leave less room than that,
    /// and may wait for the helper to return a buffer. The room's contents are unspecified.
    pub(crate) fn room(&mut self, at_least: usize) -> io::Result<&mut [u8]> {
        if self.current.len() - self.filled < at_least {
            match &mut self.mode {
                // Inline, committed bytes are consumed at once, so nothing is filled.
                Mode::Inline { .. } => self.current.resize(at_least, 0),
                // A buffer with nothing committed (the inline one) just grows.
                Mode::Helper { .. } if !self.current.is_empty() && self.filled == 0 => {
                    self.current.resize(at_least.max(BUFFER_BYTES), 0);
                }
                Mode::Helper { .. } => {
                    self.send_current()?;
                    self.current = self.empty_buffer(at_least)?;
                }
                Mode::Stopped => return Err(stopped_error()),
            }
        }
        Ok(&mut self.current[self.filled..])
    }

    /// Commits the first `count` bytes of the room last returned by [`room`](Self::room).
    pub(crate) fn commit(&mut self, count: usize) -> io::Result<()> {
        let end = (self.filled + count).min(self.current.len());
        match &mut self.mode {
            Mode::Inline { consumer } => consumer.consume(&self.current[self.filled..end]),
            Mode::Helper { .. } => {
                self.filled = end;
                Ok(())
            }
            Mode::Stopped => Err(stopped_error()),
        }
    }

    /// Waits until every committed byte is consumed and returns the consumer.
    pub(crate) fn finish(mut self) -> io::Result<C> {
        if let Mode::Helper { .. } = self.mode {
            self.send_current()?;
        }
        match std::mem::replace(&mut self.mode, Mode::Stopped) {
            Mode::Inline { consumer } => Ok(consumer),
            Mode::Helper {
                full, mut helper, ..
            } => {
                drop(full);
                join(helper.take())
            }
            Mode::Stopped => Err(stopped_error()),
        }
    }

    /// Sends the current buffer's committed bytes to the helper, if there are any; the
    /// current buffer is then empty (none is held).
    fn send_current(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let chunk = Chunk {
            bytes: std::mem::take(&mut self.current),
            length: std::mem::take(&mut self.filled),
        };
        let sent = match &self.mode {
            Mode::Helper {
                full: Some(full), ..
            } => full.send(chunk).is_ok(),
            _ => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.stop())
        }
    }

    /// A buffer of at least `at_least` bytes: a returned one, a new one while fewer than
    /// [`BUFFER_COUNT`] exist, or else the next one the helper returns.
    fn empty_buffer(&mut self, at_least: usize) -> io::Result<Vec<u8>> {
        let Mode::Helper {
            empty, allocated, ..
        } = &mut self.mode
        else {
            return Err(stopped_error());
        };
        let returned = match empty.try_recv() {
            Ok(buffer) => Some(buffer),
            Err(_) if *allocated < BUFFER_COUNT => None,
            Err(_) => match empty.recv() {
                Ok(buffer) => Some(buffer),
                Err(_) => return Err(self.stop()),
            },
        };
        let mut buffer = returned.unwrap_or_else(|| {
            *allocated += 1;
            Vec::new()
        });
        let wanted = at_least.max(BUFFER_BYTES);
        if buffer.len() < wanted {
            buffer.resize(wanted, 0);
        }
        Ok(buffer)
    }

    /// Stops after the helper went away and returns why it did.
    fn stop(&mut self) -> io::Error {
        match std::mem::replace(&mut self.mode, Mode::Stopped) {
            Mode::Helper {
                full, mut helper, ..
            } => {
                drop(full);
                match join(helper.take()) {
                    Err(error) => error,
                    Ok(_) => stopped_error(),
                }
            }
            _ => stopped_error(),
        }
    }
}

impl<C: ChunkConsumer> Drop for ChunkPipeline<C> {
    fn drop(&mut self) {
        if let Mode::Helper { full, helper, .. } = &mut self.mode {
            // Closing the channel ends the helper's loop; waiting for it means the
            // consumer (and any file it owns) is dropped before this returns.
            drop(full.take());
            let _ = join(helper.take());
        }
    }
}

fn join<C>(helper: Option<JoinHandle<io::Result<C>>>) -> io::Result<C> {
    match helper.map(JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) => Err(io::Error::other("an edXML helper thread panicked")),
        None => Err(stopped_error()),
    }
}

fn stopped_error() -> io::Error {
    io::Error::other("the edXML helper thread stopped early")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what it is given; fails on a chunk starting with `!`.
    #[derive(Debug)]
    struct Collector(Vec<u8>);

    impl ChunkConsumer for Collector {
        fn consume(&mut self, bytes: &[u8]) -> io::Result<()> {
            if bytes.first() == Some(&b'!') {
                return Err(io::Error::other("refused"));
            }
            self.0.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn feed(pipeline: &mut ChunkPipeline<Collector>, pieces: &[&[u8]]) -> io::Result<()> {
        for piece in pieces {
            let room = pipeline.room(piece.len() + 100)?;
            assert!(room.len() >= piece.len() + 100);
            room[..piece.len()].copy_from_slice(piece);
            pipeline.commit(piece.len())?;
        }
        Ok(())
    }

    #[test]
    fn inline_and_helper_consume_the_same_bytes_in_order() {
        // Pieces large enough that a helper's buffer holds only a few of them.
        let pieces: Vec<Vec<u8>> = (0..100u8)
            .map(|value| vec![value * 2 + 34; 1 + usize::from(value) * 4099])
            .collect();
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let expected = pieces.concat();
        for switch_after in [0, 3, 100] {
            let mut pipeline = ChunkPipeline::new(Collector(Vec::new()));
            feed(&mut pipeline, &pieces[..switch_after]).expect("inline feeding works");
            pipeline.start_helper();
            pipeline.start_helper();
            pipeline.room(10).expect("room that stays unused");
            feed(&mut pipeline, &pieces[switch_after..]).expect("helper feeding works");
            let collected = pipeline.finish().expect("the helper finishes").0;
            assert_eq!(collected, expected, "switched after {switch_after}");
        }
    }

    #[test]
    fn a_failing_consumer_stops_the_producer_with_its_error() {
        let mut pipeline = ChunkPipeline::new(Collector(Vec::new()));
        pipeline.start_helper();
        let big = vec![b'!'; BUFFER_BYTES];
        let mut fed = feed(&mut pipeline, &[b"ok", &big]);
        // The helper fails asynchronously; the producer notices at a later hand-over.
        for _ in 0..1000 {
            if fed.is_err() {
                break;
            }
            fed = feed(&mut pipeline, &[&big]);
        }
        let error = match fed {
            Err(error) => error,
            Ok(()) => pipeline.finish().expect_err("the consumer failed"),
        };
        assert_eq!(error.to_string(), "refused");
    }
}
