//! The streaming packet reader: one pass over the input with quick-xml's low-level
//! `Reader` and an explicit `NamespaceResolver`, building a small element tree for the
//! header and streaming each attachment's base64 text past the parser (through
//! `Reader::stream`) into `transfer` and `extract`. Owns the event loop, the prolog and
//! epilogue rules, the depth/element/attachment counts, and the mapping of parser errors
//! to [`EdxmlError`]. Does not interpret fields (`header`) or decode content (`transfer`).
//!
//! Memory stays bounded whatever the attachment size: the parser only ever sees markup
//! and header text (held to [`Limits::max_header_bytes`] by `input`), and content moves
//! through fixed-size chunks.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use quick_xml::errors::{Error as XmlError, IllFormedError, SyntaxError};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};
use quick_xml::reader::Reader;
use tempfile::NamedTempFile;

use super::error::{one_line, ArchiveProblem, EdxmlError};
use super::extract::{extract_single_file, ExtractionTarget};
use super::header::packet_from_tree;
use super::input::{Budget, LimitHit, LimitedInput};
use super::limits::Limits;
use super::model::Packet;
use super::transfer::{Base64Sink, Decoded, FeedError, TransferOutcome};
use super::tree::{normalise_local_name, Element};
use super::EDXML_NAMESPACE;

/// The read buffer for packet files: large enough that base64 streams in few system calls.
const FILE_BUFFER_BYTES: usize = 256 * 1024;

/// Reads one packet from `input`, staging extracted attachments in `staging_dir` (which
/// should be on the filesystem where they will be kept, so keeping one is a rename).
///
/// On error nothing is left in `staging_dir`. On success the staged files belong to the
/// returned [`Packet`] and are deleted when it is dropped, unless taken.
pub fn read_packet(
    input: impl BufRead,
    staging_dir: &Path,
    limits: &Limits,
) -> Result<Packet, EdxmlError> {
    let root = PacketReader::new(input, staging_dir, limits).read_tree()?;
    let (header, attachments) = packet_from_tree(root, limits)?;
    Ok(Packet {
        header,
        attachments,
    })
}

/// Reads the packet in the file at `path`; see [`read_packet`].
pub fn read_packet_file(
    path: &Path,
    staging_dir: &Path,
    limits: &Limits,
) -> Result<Packet, EdxmlError> {
    let file = File::open(path).map_err(|source| EdxmlError::OpenInput {
        path: path.to_owned(),
        source,
    })?;
    read_packet(
        BufReader::with_capacity(FILE_BUFFER_BYTES, file),
        staging_dir,
        limits,
    )
}

/// An open element: kept in the tree, or skipped with its whole subtree.
enum Frame {
    Kept(Element),
    Skipped(String),
}

impl Frame {
    fn name(&self) -> &str {
        match self {
            Frame::Kept(element) => &element.name,
            Frame::Skipped(name) => name,
        }
    }
}

/// Whether the event loop goes on.
enum Step {
    Continue,
    Done(Element),
}

struct PacketReader<'a, R> {
    xml: Reader<LimitedInput<R>>,
    resolver: NamespaceResolver,
    staging_dir: &'a Path,
    limits: &'a Limits,
    stack: Vec<Frame>,
    root: Option<Element>,
    /// Offset and length of text met before the root, reported with the next event.
    prolog_text: Option<(u64, u64)>,
    element_count: usize,
    attachment_count: usize,
    extracted_bytes: u64,
}

impl<'a, R: BufRead> PacketReader<'a, R> {
    fn new(input: R, staging_dir: &'a Path, limits: &'a Limits) -> Self {
        let input = LimitedInput::new(input, limits.max_packet_bytes, limits.max_header_bytes);
        PacketReader {
            xml: Reader::from_reader(input),
            resolver: NamespaceResolver::default(),
            staging_dir,
            limits,
            stack: Vec::new(),
            root: None,
            prolog_text: None,
            element_count: 0,
            attachment_count: 0,
            extracted_bytes: 0,
        }
    }

    fn read_tree(mut self) -> Result<Element, EdxmlError> {
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let start = self.xml.buffer_position();
            let event = match self.xml.read_event_into(&mut buffer) {
                Ok(event) => event,
                Err(error) => return Err(self.xml_error(&error, start)),
            };
            if let Step::Done(root) = self.handle_event(event, start)? {
                return Ok(root);
            }
        }
    }

    fn handle_event(&mut self, event: Event<'_>, start: u64) -> Result<Step, EdxmlError> {
        if let Some((offset, count)) = self.prolog_text.take() {
            if !matches!(event, Event::Decl(_)) {
                return Err(EdxmlError::BytesBeforeRoot { count, offset });
            }
        }
        match event {
            Event::Decl(declaration) => self.on_declaration(&declaration, start)?,
            Event::DocType(_) => return Err(EdxmlError::Doctype { offset: start }),
            Event::Start(element) => self.on_start(&element, start, false)?,
            Event::Empty(element) => self.on_start(&element, start, true)?,
            Event::End(_) => self.on_end(),
            Event::Text(text) => {
                let length = text.len() as u64;
                self.on_text(&text.xml10_content(), length, start)?;
            }
            Event::CData(data) => {
                let length = data.len() as u64;
                self.on_text(&data.into_inner(), length, start)?;
            }
            Event::GeneralRef(reference) => self.on_reference(&reference, start)?,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => return self.on_eof(start).map(Step::Done),
        }
        Ok(Step::Continue)
    }

    fn on_declaration(
        &mut self,
        declaration: &quick_xml::events::BytesDecl<'_>,
        start: u64,
    ) -> Result<(), EdxmlError> {
        if self.root.is_some() || !self.stack.is_empty() {
            return Err(EdxmlError::MalformedXml {
                offset: start,
                message: "an XML declaration inside the document".to_owned(),
            });
        }
        if start > 0 {
            return Err(EdxmlError::BytesBeforeDeclaration {
                count: start,
                offset: 0,
            });
        }
        if let Some(Ok(encoding)) = declaration.encoding() {
            let encoding = String::from_utf8_lossy(encoding.as_bytes()).into_owned();
            if !encoding.eq_ignore_ascii_case("utf-8") && !encoding.eq_ignore_ascii_case("utf8") {
                return Err(EdxmlError::UnsupportedEncoding { encoding });
            }
        }
        Ok(())
    }

    fn on_start(
        &mut self,
        element: &BytesStart<'_>,
        start: u64,
        is_empty: bool,
    ) -> Result<(), EdxmlError> {
        if self.root.is_some() {
            return Err(EdxmlError::ContentAfterRoot { offset: start });
        }
        self.element_count += 1;
        if self.element_count > self.limits.max_header_elements {
            return Err(EdxmlError::TooManyElements {
                limit: self.limits.max_header_elements,
                offset: start,
            });
        }
        if self.stack.len() + 1 > self.limits.max_depth {
            return Err(EdxmlError::TooDeep {
                limit: self.limits.max_depth,
                offset: start,
            });
        }
        self.resolver
            .push(element)
            .map_err(|error| EdxmlError::MalformedXml {
                offset: start,
                message: one_line(&error.to_string()),
            })?;
        let frame = self.classify(element, start)?;
        if let Frame::Kept(kept) = &frame {
            if kept.name == "Attachment" {
                self.attachment_count += 1;
                if self.attachment_count > self.limits.max_attachments {
                    return Err(EdxmlError::TooManyAttachments {
                        limit: self.limits.max_attachments,
                        offset: start,
                    });
                }
            }
        }
        if self.opens_attachment_content(&frame) {
            let outcome = if is_empty {
                self.resolver.pop();
                TransferOutcome::Unreadable("the attachment has no content".to_owned())
            } else {
                self.stream_content()?
            };
            let mut content = Element::new("ContentTransferEncoded".to_owned());
            content.transfer = Some(outcome);
            self.attach(content);
            return Ok(());
        }
        self.stack.push(frame);
        if is_empty {
            self.on_end();
        }
        Ok(())
    }

    /// Decides whether an element is kept (edXML namespace) or skipped, and checks the root.
    fn classify(&self, element: &BytesStart<'_>, start: u64) -> Result<Frame, EdxmlError> {
        let qualified = element.name().as_ref().to_owned();
        if matches!(self.stack.last(), Some(Frame::Skipped(_))) {
            return Ok(Frame::Skipped(qualified));
        }
        let (resolved, local) = self.resolver.resolve_element(element.name());
        let local = local.as_ref().to_owned();
        let namespace = match resolved {
            ResolveResult::Bound(namespace) => Some(namespace.as_ref().to_owned()),
            ResolveResult::Unbound => None,
            // Real producers write `edXML:` outside the scope that declares it.
            ResolveResult::Unknown(prefix) if prefix == "edXML" => Some(EDXML_NAMESPACE.to_owned()),
            ResolveResult::Unknown(prefix) => {
                return Err(EdxmlError::UndeclaredPrefix {
                    element: one_line(&qualified),
                    prefix: one_line(&prefix),
                    offset: start,
                })
            }
        };
        let in_edxml = namespace.as_deref() == Some(EDXML_NAMESPACE);
        if self.stack.is_empty() && !(in_edxml && local == "edXML") {
            return Err(EdxmlError::WrongRoot {
                found: one_line(&qualified),
                namespace: namespace.unwrap_or_default(),
                expected: EDXML_NAMESPACE,
            });
        }
        if !in_edxml || local == "Signature" {
            return Ok(Frame::Skipped(qualified));
        }
        Ok(Frame::Kept(Element::new(normalise_local_name(&local))))
    }

    fn opens_attachment_content(&self, frame: &Frame) -> bool {
        matches!(frame, Frame::Kept(element) if element.name == "ContentTransferEncoded")
            && matches!(self.stack.last(), Some(Frame::Kept(parent)) if parent.name == "Attachment")
    }

    fn on_end(&mut self) {
        self.resolver.pop();
        if let Some(Frame::Kept(mut element)) = self.stack.pop() {
            element.finish_text();
            if self.stack.is_empty() {
                self.root = Some(element);
            } else {
                self.attach(element);
            }
        }
    }

    fn attach(&mut self, element: Element) {
        if let Some(Frame::Kept(parent)) = self.stack.last_mut() {
            parent.children.push(element);
        }
    }

    fn on_text(&mut self, text: &str, raw_length: u64, start: u64) -> Result<(), EdxmlError> {
        let is_blank = text
            .bytes()
            .all(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n'));
        match self.stack.last_mut() {
            Some(Frame::Kept(element)) => element.text.push_str(text),
            Some(Frame::Skipped(_)) => {}
            None if is_blank => {}
            None if self.root.is_some() => {
                return Err(EdxmlError::ContentAfterRoot { offset: start })
            }
            None => self.prolog_text = Some((start, raw_length)),
        }
        Ok(())
    }

    fn on_reference(&mut self, reference: &BytesRef<'_>, start: u64) -> Result<(), EdxmlError> {
        let character = match reference.resolve_char_ref() {
            Ok(Some(character)) => character,
            Ok(None) => match reference.as_ref() {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "apos" => '\'',
                "quot" => '"',
                name => {
                    return Err(EdxmlError::UnknownEntity {
                        name: one_line(name),
                        offset: start,
                    })
                }
            },
            Err(error) => {
                return Err(EdxmlError::MalformedXml {
                    offset: start,
                    message: one_line(&error.to_string()),
                })
            }
        };
        let mut encoded = [0u8; 4];
        let text = character.encode_utf8(&mut encoded);
        // A reference is never blank text, so before the root it is stray content.
        self.on_text(text, reference.len() as u64 + 2, start)
    }

    fn on_eof(&mut self, offset: u64) -> Result<Element, EdxmlError> {
        if let Some(root) = self.root.take() {
            return Ok(root);
        }
        match self.stack.last() {
            Some(frame) => Err(EdxmlError::Truncated {
                offset,
                place: format!("inside <{}>", one_line(frame.name())),
            }),
            None if offset == 0 => Err(EdxmlError::Empty),
            None => Err(EdxmlError::Truncated {
                offset,
                place: "before the root element".to_owned(),
            }),
        }
    }

    /// Streams the text of a `ContentTransferEncoded` element to a staged ZIP, consumes its
    /// end tag, and extracts the ZIP.
    fn stream_content(&mut self) -> Result<TransferOutcome, EdxmlError> {
        let label = self.attachment_label();
        let staged =
            NamedTempFile::new_in(self.staging_dir).map_err(|source| self.staging_error(source))?;
        let mut sink = Base64Sink::new(staged, self.limits.max_attachment_bytes);
        let mut buffer = Vec::new();
        loop {
            self.xml.get_mut().set_budget(Budget::Content);
            let streamed = stream_text_to_markup(&mut self.xml, &mut sink);
            self.xml.get_mut().set_budget(Budget::Header);
            match streamed {
                Ok(true) => {}
                Ok(false) => {
                    return Err(EdxmlError::Truncated {
                        offset: self.xml.buffer_position(),
                        place: format!("inside the content of attachment {label}"),
                    })
                }
                Err(StreamError::Input(error)) => return Err(self.input_error(error)),
                Err(StreamError::Feed(error)) => return Err(self.feed_error(error, &label)),
            }
            buffer.clear();
            let start = self.xml.buffer_position();
            match self.xml.read_event_into(&mut buffer) {
                Ok(Event::End(_)) => break,
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(Event::CData(data)) => {
                    sink.feed(data.into_inner().as_bytes(), start)
                        .map_err(|error| self.feed_error(error, &label))?;
                }
                Ok(Event::DocType(_)) => return Err(EdxmlError::Doctype { offset: start }),
                Ok(Event::Eof) => {
                    return Err(EdxmlError::Truncated {
                        offset: start,
                        place: "inside <ContentTransferEncoded>".to_owned(),
                    })
                }
                Ok(_) => {
                    return Err(EdxmlError::MalformedXml {
                        offset: start,
                        message:
                            "markup inside ContentTransferEncoded, which holds only base64 text"
                                .to_owned(),
                    })
                }
                Err(error) => return Err(self.xml_error(&error, start)),
            }
        }
        self.resolver.pop();
        match sink
            .finish()
            .map_err(|error| self.feed_error(error, &label))?
        {
            Decoded::Unreadable(reason) => Ok(TransferOutcome::Unreadable(reason)),
            Decoded::Staged { file } => self.extract(file, &label),
        }
    }

    /// Extracts the staged ZIP, which is deleted on the way.
    fn extract(
        &mut self,
        archive: NamedTempFile,
        label: &str,
    ) -> Result<TransferOutcome, EdxmlError> {
        let total_left = self
            .limits
            .max_total_attachment_bytes
            .saturating_sub(self.extracted_bytes);
        let target = ExtractionTarget {
            staging_dir: self.staging_dir,
            limits: self.limits,
            max_size: self.limits.max_attachment_bytes.min(total_left),
            label,
        };
        let extracted = extract_single_file(archive, &target).map_err(|error| match error {
            EdxmlError::BadArchive {
                problem: ArchiveProblem::EntryTooLarge { .. },
                ..
            } if total_left < self.limits.max_attachment_bytes => EdxmlError::AttachmentsTooLarge {
                limit: self.limits.max_total_attachment_bytes,
            },
            other => other,
        })?;
        self.extracted_bytes += extracted.size;
        Ok(TransferOutcome::Extracted(extracted))
    }

    /// Names the current attachment by its ContentId when already read, else by position.
    fn attachment_label(&self) -> String {
        match self.stack.last() {
            Some(Frame::Kept(parent)) => match parent.value("ContentId") {
                Some(content_id) => one_line(&content_id),
                None => format!("#{}", self.attachment_count),
            },
            _ => format!("#{}", self.attachment_count),
        }
    }

    fn staging_error(&self, source: io::Error) -> EdxmlError {
        EdxmlError::Staging {
            dir: self.staging_dir.to_owned(),
            source,
        }
    }

    fn feed_error(&self, error: FeedError, label: &str) -> EdxmlError {
        match error {
            FeedError::Staging(source) => self.staging_error(source),
            FeedError::TooLarge { limit } => EdxmlError::BadArchive {
                attachment: label.to_owned(),
                problem: ArchiveProblem::ArchiveTooLarge { limit },
            },
        }
    }

    /// Maps an input failure, telling a limit apart from a failing source.
    fn input_error(&self, source: io::Error) -> EdxmlError {
        let offset = self.xml.buffer_position();
        match self.xml.get_ref().limit_hit() {
            Some(LimitHit::Packet) => EdxmlError::PacketTooLarge {
                limit: self.limits.max_packet_bytes,
            },
            Some(LimitHit::Header) => EdxmlError::HeaderTooLarge {
                limit: self.limits.max_header_bytes,
                offset,
            },
            None => EdxmlError::Input { offset, source },
        }
    }

    fn xml_error(&self, error: &XmlError, start: u64) -> EdxmlError {
        let offset = match self.xml.error_position() {
            0 => start,
            position => position,
        };
        match error {
            XmlError::Io(source) => {
                self.input_error(io::Error::new(source.kind(), source.to_string()))
            }
            XmlError::Syntax(SyntaxError::InvalidBangMarkup) => EdxmlError::MalformedXml {
                offset,
                message: one_line(&error.to_string()),
            },
            XmlError::Syntax(syntax) => EdxmlError::Truncated {
                offset,
                place: format!("inside markup ({})", one_line(&syntax.to_string())),
            },
            XmlError::IllFormed(IllFormedError::MissingEndTag(tag)) => EdxmlError::Truncated {
                offset: self.xml.buffer_position(),
                place: format!("before </{}>", one_line(tag)),
            },
            XmlError::Encoding(_) => EdxmlError::InvalidUtf8 { offset },
            other => EdxmlError::MalformedXml {
                offset,
                message: one_line(&other.to_string()),
            },
        }
    }
}

/// Why streaming content stopped early.
enum StreamError {
    Input(io::Error),
    Feed(FeedError),
}

/// Feeds the raw input up to (not including) the next `<` into `sink`. Returns whether a
/// `<` was reached (false at the end of the input).
fn stream_text_to_markup<R: BufRead>(
    xml: &mut Reader<LimitedInput<R>>,
    sink: &mut Base64Sink,
) -> Result<bool, StreamError> {
    let mut stream = xml.stream();
    loop {
        let offset = stream.offset();
        let (used, reached_markup) = {
            let available = loop {
                match stream.fill_buf() {
                    Ok(available) => break available,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Err(StreamError::Input(error)),
                }
            };
            if available.is_empty() {
                return Ok(false);
            }
            let markup = sink
                .feed_until_markup(available, offset)
                .map_err(StreamError::Feed)?;
            (markup.unwrap_or(available.len()), markup.is_some())
        };
        stream.consume(used);
        if reached_markup {
            return Ok(true);
        }
    }
}
