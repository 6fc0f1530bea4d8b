//! Which decompressor a layer blob needs. The bytes decide (gzip and zstd
//! have magic numbers; a tar has neither); the media type only has a say
//! when it names something we cannot read, so a mislabelled layer (a
//! `+gzip` type on a plain tar, common with hand-made images) still
//! unpacks, and a `+bzip2` one fails with a message that says why.

use std::io::{self, BufRead, BufReader, Read};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Media-type suffixes we know, and what they say.
const MEDIA_SUFFIXES: &[(&str, Option<Compression>)] = &[
    ("tar", Some(Compression::None)),
    ("tar+gzip", Some(Compression::Gzip)),
    ("tar.gzip", Some(Compression::Gzip)),
    ("tar+zstd", Some(Compression::Zstd)),
    ("tar+bzip2", None),
    ("tar+xz", None),
];

impl Compression {
    /// From the first bytes of the blob and its media type. `Err` carries
    /// the unsupported compression's name.
    pub fn detect(media_type: &str, head: &[u8]) -> Result<Compression, String> {
        if head.starts_with(GZIP_MAGIC) {
            return Ok(Compression::Gzip);
        }
        if head.starts_with(ZSTD_MAGIC) {
            return Ok(Compression::Zstd);
        }
        // The media type's own words, for the error message.
        let declared = media_type
            .rsplit_once(".v1.")
            .or_else(|| media_type.rsplit_once(".diff."))
            .map_or("", |(_, s)| s);
        match MEDIA_SUFFIXES.iter().find(|(s, _)| *s == declared) {
            Some((s, None)) => Err(s.to_string()),
            _ => Ok(Compression::None),
        }
    }

    /// Wraps `r` in the matching decompressor.
    pub fn reader<'a, R: Read + 'a>(self, r: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            // Several gzip members are one stream (pigz writes them).
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// Peeks at the head of `r` and returns the decompressed stream.
pub fn open<'a, R: Read + 'a>(media_type: &str, r: R) -> Result<Box<dyn Read + 'a>, OpenError> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let head = br.fill_buf().map_err(OpenError::Io)?.to_vec();
    let c = Compression::detect(media_type, &head).map_err(OpenError::Unsupported)?;
    c.reader(br).map_err(OpenError::Io)
}

#[derive(Debug)]
pub enum OpenError {
    Unsupported(String),
    Io(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = "application/vnd.oci.image.layer.v1.tar";
    const OCI_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const DOCKER_GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    #[test]
    fn magic_bytes_decide() {
        assert_eq!(
            Compression::detect(OCI, &[0x1f, 0x8b, 8]),
            Ok(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(OCI_GZ, &[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Ok(Compression::Zstd)
        );
        assert_eq!(
            Compression::detect(OCI_GZ, b"etc/\0\0\0"),
            Ok(Compression::None)
        );
        assert_eq!(Compression::detect(DOCKER_GZ, b""), Ok(Compression::None));
    }

    #[test]
    fn unsupported_media_types_are_named() {
        let bz = "application/vnd.oci.image.layer.v1.tar+bzip2";
        assert_eq!(Compression::detect(bz, b"BZh9"), Err("tar+bzip2".into()));
        let nd = "application/vnd.oci.image.layer.nondistributable.v1.tar+xz";
        assert_eq!(Compression::detect(nd, b"\xfd7zXZ"), Err("tar+xz".into()));
    }

    #[test]
    fn readers_round_trip() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        let gz = gz.finish().unwrap();
        let mut out = String::new();
        open(OCI_GZ, &gz[..])
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
        let zs = zstd::stream::encode_all(&b"world"[..], 1).unwrap();
        out.clear();
        open(OCI, &zs[..])
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "world");
    }
}
