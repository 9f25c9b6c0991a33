//! How a record is stored: one JSON line that names its replica, its sequence number and the
//! hash of the previous record of the same replica (`prev`), and ends with its own hash
//! (`hash`, SHA-256 of the line's bytes without that last field). The chain is computed over
//! the stored bytes, so encrypted lines verify without the key.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::{hex, AuditRecord};

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the line format (`v`).
pub const FORMAT_VERSION: u32 = 1;

/// `,"hash":"` + 64 hex digits + `"}`: the fixed tail every stored line ends with.
const HASH_TAIL_LEN: usize = 9 + 64 + 2;

/// Where a replica's chain stands: its last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the last record (0 before the first).
    pub seq: u64,
    /// Hash of the last record ([`GENESIS`] before the first).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        ChainHead {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// The fields of a stored line that are always in clear.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineHeader {
    /// Format version.
    pub v: u32,
    /// Replica that wrote it.
    pub replica: String,
    /// Sequence number within the replica's chain (from 1).
    pub seq: u64,
    /// Hash of the previous record of the replica.
    pub prev: String,
    /// This record's hash.
    pub hash: String,
    /// Decision time (in clear on encrypted lines too).
    #[serde(default)]
    pub time: Option<String>,
    /// Key id of an encrypted line.
    #[serde(default)]
    pub key_id: Option<String>,
}

/// What is wrong with one stored line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line does not end with the `hash` field.
    #[error("not a celgate audit record (no trailing \"hash\" field)")]
    NoHash,
    /// The content was changed after it was written.
    #[error("record altered: its content hashes to {computed}, not to the stored {stored}")]
    HashMismatch {
        /// The `hash` field.
        stored: String,
        /// SHA-256 of the content.
        computed: String,
    },
    /// The line is not the JSON of a record.
    #[error("not a celgate audit record")]
    Json(#[source] serde_json::Error),
    /// A format this celgate does not know.
    #[error("unsupported audit record format v{0}")]
    Version(u32),
    /// The line ends with a carriage return: the file was given CRLF (Windows) line endings.
    #[error(
        "the line ends with a carriage return (CR, \\r: CRLF line endings, e.g. after a Windows \
         editor or a Git checkout with autocrlf); {}",
        if *.intact_without { "without the CR the record is intact" } else { "the record is not intact without it either" }
    )]
    CarriageReturn {
        /// Whether the line without its CR is an intact record.
        intact_without: bool,
    },
}

/// The encrypted form of a record's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    /// Decision time, kept in clear for retention and routing.
    pub time: String,
    /// Id of the key that encrypted it.
    pub key_id: String,
    /// 96-bit nonce, base64.
    pub nonce: String,
    /// AES-256-GCM ciphertext and tag of the record's JSON, base64.
    pub ciphertext: String,
}

/// What a line carries besides the chain fields.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Content<'a> {
    /// The record in clear.
    Plain(&'a AuditRecord),
    /// The record encrypted.
    Sealed(Sealed),
}

#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    replica: &'a str,
    seq: u64,
    prev: &'a str,
    #[serde(flatten)]
    content: Content<'a>,
}

/// Associated data bound to an encrypted record: its place in the chain, so ciphertext cannot
/// be moved to another position or replica.
pub fn associated_data(replica: &str, seq: u64, prev: &str, key_id: &str) -> Vec<u8> {
    format!("celgate-audit/v{FORMAT_VERSION}\n{replica}\n{seq}\n{prev}\n{key_id}").into_bytes()
}

/// The stored line (without the newline) for `content` as record `head.seq + 1` of `replica`,
/// and the new head.
pub fn encode(
    replica: &str,
    head: &ChainHead,
    content: Content<'_>,
) -> Result<(Vec<u8>, ChainHead), serde_json::Error> {
    let seq = head.seq + 1;
    let body = serde_json::to_vec(&Body {
        v: FORMAT_VERSION,
        replica,
        seq,
        prev: &head.hash,
        content,
    })?;
    let hash = hex(&Sha256::digest(&body));
    let mut line = body;
    line.pop();
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}");
    Ok((line, ChainHead { seq, hash }))
}

/// Parses a stored line and checks its own hash.
pub fn decode_header(line: &[u8]) -> Result<LineHeader, LineError> {
    if let Some(without) = line.strip_suffix(b"\r") {
        return Err(LineError::CarriageReturn {
            intact_without: decode_header(without).is_ok(),
        });
    }
    let computed = content_hash(line).ok_or(LineError::NoHash)?;
    let header: LineHeader = serde_json::from_slice(line).map_err(LineError::Json)?;
    if header.v != FORMAT_VERSION {
        return Err(LineError::Version(header.v));
    }
    if header.hash != computed {
        return Err(LineError::HashMismatch {
            stored: header.hash,
            computed,
        });
    }
    Ok(header)
}

/// SHA-256 of the line without its trailing `hash` field, when it has one.
fn content_hash(line: &[u8]) -> Option<String> {
    let cut = line.len().checked_sub(HASH_TAIL_LEN)?;
    let tail = &line[cut..];
    let hex_part = &tail[9..73];
    if !tail.starts_with(b",\"hash\":\"") || !tail.ends_with(b"\"}") || !hex_part.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(&line[..cut]);
    hasher.update(b"}");
    Some(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Sealed {
        Sealed {
            time: "t".into(),
            key_id: "k".into(),
            nonce: "n".into(),
            ciphertext: "c".into(),
        }
    }

    #[test]
    fn encoded_line_decodes_and_links() {
        let (line, head) = encode("r1", &ChainHead::genesis(), Content::Sealed(sealed())).expect("encodes");
        let header = decode_header(&line).expect("decodes");
        assert_eq!((header.seq, header.prev.as_str()), (1, GENESIS));
        assert_eq!(header.hash, head.hash);
        let (line2, _) = encode("r1", &head, Content::Sealed(sealed())).expect("encodes");
        assert_eq!(decode_header(&line2).expect("decodes").prev, head.hash);
    }

    #[test]
    fn any_edit_is_seen() {
        let (line, _) = encode("r1", &ChainHead::genesis(), Content::Sealed(sealed())).expect("encodes");
        let edited = String::from_utf8(line)
            .expect("utf8")
            .replace("\"key_id\"", "x")
            .replace("\"k\"", "\"K\"");
        assert!(matches!(
            decode_header(edited.as_bytes()),
            Err(LineError::HashMismatch { .. })
        ));
        assert!(matches!(decode_header(b"{\"v\":1}"), Err(LineError::NoHash)));
    }
}
