//! The Teams app package that `handoff teams-package` writes: a `.zip` with
//! `manifest.json`, `color.png` and `outline.png` at its root, ready for
//! Teams' "Upload a custom app". Everything here is pure (options in, bytes
//! out) and deterministic, so the same options always give the same bytes and
//! an operator can diff or checksum the package they uploaded.
//!
//! The PNG and zip writers are deliberately minimal: three small files is all
//! they ever carry, and owning them keeps a zip crate out of the build.

use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, ZlibEncoder};
use serde_json::json;
use thiserror::Error;
use url::Url;

/// What an operator chooses about the package; everything else is fixed by
/// what handoff needs from Teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageOptions {
    /// `TEAMS_APP_ID`: the Entra app id handoff's bot authenticates as. Used
    /// as the manifest id, the bot id and the RSC app id, so the one id an
    /// operator registered is the only one they have to think about.
    pub app_id: String,
    /// The app's short name as agents see it in Teams (default "handoff").
    pub name: String,
    /// handoff's public base URL; Teams wants https links for the developer
    /// pages, and its host is the app's only valid domain.
    pub public_url: String,
    /// The app version; Teams only accepts an upgrade with a higher one.
    pub version: String,
    /// The company shown as the app's developer.
    pub developer: String,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            app_id: String::new(),
            name: "handoff".to_owned(),
            public_url: String::new(),
            version: "1.0.0".to_owned(),
            developer: String::new(),
        }
    }
}

/// Why a package could not be built. Every variant except `Compress` is the
/// operator's to fix, so the messages name the setting and what Teams wants.
#[derive(Debug, Error)]
pub enum PackageError {
    #[error(
        "TEAMS_APP_ID {value:?} is not a GUID (8-4-4-4-12 hex digits, as shown for the app registration in Entra)"
    )]
    InvalidAppId { value: String },
    #[error(
        "TEAMS_APP_ID is the all-zero placeholder GUID; use the app id of your Entra app registration"
    )]
    PlaceholderAppId,
    #[error("the app name must be 1 to {max} characters (got {len})")]
    InvalidName { len: usize, max: usize },
    #[error("the developer name must be 1 to {max} characters (got {len})")]
    InvalidDeveloper { len: usize, max: usize },
    #[error(
        "the app version {value:?} must be three numbers like 1.0.0 (no leading zeros, no suffix)"
    )]
    InvalidVersion { value: String },
    #[error(
        "the public URL {url:?} must use https: Teams refuses http links for an app's website, privacy and terms pages"
    )]
    InsecurePublicUrl { url: String },
    #[error("the public URL {url:?} is not usable: {reason}")]
    InvalidPublicUrl { url: String, reason: &'static str },
    /// Internal: compressing into memory failed, or a file outgrew the zip
    /// format's 4 GiB limit. Neither happens with the files built here.
    #[error("building the package failed: {0}")]
    Compress(#[from] std::io::Error),
}

/// Teams' schema limits (manifest v1.17).
const NAME_MAX: usize = 30;
const DEVELOPER_NAME_MAX: usize = 32;

/// The brand colour, the same blue as the web chat and inbox accents, so the
/// app looks like the rest of handoff.
const BRAND: [u8; 3] = [0x1d, 0x4e, 0xd8];
const ACCENT_COLOR: &str = "#1D4ED8";

/// The zip bytes of the Teams app package for `opts`.
pub fn app_package(opts: &PackageOptions) -> Result<Vec<u8>, PackageError> {
    let manifest = manifest_json(opts)?;
    let color = encode_png(COLOR_SIZE, COLOR_SIZE, &color_icon())?;
    let outline = encode_png(OUTLINE_SIZE, OUTLINE_SIZE, &outline_icon())?;
    write_zip(&[
        ("manifest.json", &manifest),
        ("color.png", &color),
        ("outline.png", &outline),
    ])
}

// ---------------------------------------------------------------------------
// manifest.json

const SHORT_DESCRIPTION: &str = "Hands customer chats from Discord and web chat to your team.";

// Teams' store rules ask an app holding ChannelMessage.Read.Group to say in
// its description what it does with the messages it reads, so the last
// paragraph does exactly that even for a custom (never published) app.
const FULL_DESCRIPTION: &str = "\
handoff watches your customer conversations on Discord and your website's \
chat and hands a customer to your team when a person is needed. Each handoff \
arrives in a channel of your choice as a card with the customer's question \
and context, and Claim, Release and Resolve buttons so the team can see who \
is helping whom.\n\n\
Reply in a card's thread and your reply reaches the customer; the \
customer's answers come back into the same thread. Replies starting with // \
stay internal notes.\n\n\
How handoff uses channel messages: it reads the replies posted in the \
threads of its own handoff cards and relays the case owner's replies to that \
card's customer, with mentions of colleagues removed. Other messages in the \
channel are ignored.";

fn manifest_json(opts: &PackageOptions) -> Result<Vec<u8>, PackageError> {
    let app_id = validate_app_id(&opts.app_id)?;
    let name = validate_len(&opts.name, NAME_MAX)
        .map_err(|len| PackageError::InvalidName { len, max: NAME_MAX })?;
    let developer = validate_len(&opts.developer, DEVELOPER_NAME_MAX).map_err(|len| {
        PackageError::InvalidDeveloper {
            len,
            max: DEVELOPER_NAME_MAX,
        }
    })?;
    let version = validate_version(&opts.version)?;
    let (base, host) = validate_public_url(&opts.public_url)?;

    let manifest = json!({
        "$schema": "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json",
        "manifestVersion": "1.17",
        "version": version,
        "id": app_id,
        "developer": {
            "name": developer,
            // handoff serves no privacy or terms page of its own, so all three
            // point at the operator's base URL rather than at a page that
            // would 404; an operator who has real pages can edit the manifest.
            "websiteUrl": base,
            "privacyUrl": base,
            "termsOfUseUrl": base,
        },
        "name": {
            "short": name,
            "full": format!("{name} for customer support"),
        },
        "description": {
            "short": SHORT_DESCRIPTION,
            "full": FULL_DESCRIPTION,
        },
        "icons": { "color": "color.png", "outline": "outline.png" },
        "accentColor": ACCENT_COLOR,
        "bots": [{
            "botId": app_id,
            // Team scope only: handoff posts cards into a channel and reads
            // their threads. It has nothing to say in a personal chat or a
            // group chat, and offering those scopes would invite messages it
            // would silently drop.
            "scopes": ["team"],
            "supportsFiles": false,
            "isNotificationOnly": false,
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
        // RSC needs the Entra app id here; `resource` does nothing for RSC but
        // Teams rejects RSC apps whose `resource` is missing or empty. It
        // takes the shape of an Entra Application ID URI, so it stays valid
        // should anyone later add single sign-on.
        "webApplicationInfo": {
            "id": app_id,
            "resource": format!("api://{host}/{app_id}"),
        },
        // This is why the package matters: without ChannelMessage.Read.Group a
        // bot in a channel only receives messages that @mention it, and
        // handoff must see every agent reply in a card's thread to relay it to
        // the customer. Team owners consent to it when they add the app.
        "authorization": {
            "permissions": {
                "resourceSpecific": [
                    { "name": "ChannelMessage.Read.Group", "type": "Application" }
                ]
            }
        },
    });
    // serde_json's map keeps keys sorted, so the bytes are stable.
    Ok(serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?)
}

fn validate_app_id(value: &str) -> Result<&str, PackageError> {
    let groups: Vec<&str> = value.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !shape_ok {
        return Err(PackageError::InvalidAppId {
            value: value.to_owned(),
        });
    }
    // The README's example config uses the nil GUID; catching it here saves
    // an operator a confusing rejection from Teams.
    if value.bytes().all(|b| b == b'0' || b == b'-') {
        return Err(PackageError::PlaceholderAppId);
    }
    Ok(value)
}

/// `value` trimmed, if it has 1..=max characters; else its length.
fn validate_len(value: &str, max: usize) -> Result<&str, usize> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if (1..=max).contains(&len) {
        Ok(trimmed)
    } else {
        Err(len)
    }
}

/// Teams' version pattern: three dot-separated numbers without leading zeros
/// and without semver's pre-release or build suffixes.
fn validate_version(value: &str) -> Result<&str, PackageError> {
    let parts: Vec<&str> = value.split('.').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 9
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        });
    if ok {
        Ok(value)
    } else {
        Err(PackageError::InvalidVersion {
            value: value.to_owned(),
        })
    }
}

/// The base URL without a trailing slash, and its host for `validDomains`.
fn validate_public_url(value: &str) -> Result<(String, String), PackageError> {
    let invalid = |reason| PackageError::InvalidPublicUrl {
        url: value.to_owned(),
        reason,
    };
    let url = Url::parse(value.trim()).map_err(|_| invalid("not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            return Err(PackageError::InsecurePublicUrl {
                url: value.to_owned(),
            });
        }
        _ => return Err(invalid("the scheme must be https")),
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("it has no host"))?
        .to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain a user name or password"));
    }
    // A base URL with a query or fragment cannot have paths appended to it
    // and is almost certainly a pasted page address, not the base.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    let base = url.as_str().trim_end_matches('/').to_owned();
    Ok((base, host))
}

// ---------------------------------------------------------------------------
// Icons

/// Teams' sizes: a 192 px full-colour icon and a 32 px white outline.
const COLOR_SIZE: u32 = 192;
const OUTLINE_SIZE: u32 = 32;

/// Samples per pixel along each axis; 4×4 gives smooth enough edges for
/// icons this simple without any anti-aliasing maths.
const SUPERSAMPLE: u32 = 4;

/// The full-colour icon: a white glyph on a brand-blue rounded square, with
/// transparent corners.
fn color_icon() -> Vec<u8> {
    let size = COLOR_SIZE as f32;
    // The glyph fills the middle 112 px, leaving the padding Teams' design
    // guidance asks for so it is not cropped when Teams rounds the corners.
    let (glyph_origin, glyph_size) = (40.0, 112.0);
    raster(COLOR_SIZE, |x, y| {
        let background =
            rounded_rect_sdf(x, y, size / 2.0, size / 2.0, size / 2.0, size / 2.0, 40.0) <= 0.0;
        let glyph = glyph_contains(
            (x - glyph_origin) / glyph_size,
            (y - glyph_origin) / glyph_size,
        );
        (background, glyph && background)
    })
    .into_iter()
    .flat_map(|(bg, fg)| {
        let mix = |c: u8| (f32::from(c) + (255.0 - f32::from(c)) * fg).round() as u8;
        [
            mix(BRAND[0]),
            mix(BRAND[1]),
            mix(BRAND[2]),
            coverage_byte(bg),
        ]
    })
    .collect()
}

/// The outline icon: the same glyph, white, on transparency. Every pixel is
/// white and only alpha varies, because Teams rejects an outline icon with
/// any other colour in it (even in fully transparent pixels, some
/// validators look at the RGB).
fn outline_icon() -> Vec<u8> {
    let (glyph_origin, glyph_size) = (2.0, 28.0);
    raster(OUTLINE_SIZE, |x, y| {
        let glyph = glyph_contains(
            (x - glyph_origin) / glyph_size,
            (y - glyph_origin) / glyph_size,
        );
        (glyph, false)
    })
    .into_iter()
    .flat_map(|(glyph, _)| [255, 255, 255, coverage_byte(glyph)])
    .collect()
}

fn coverage_byte(coverage: f32) -> u8 {
    (coverage * 255.0).round().clamp(0.0, 255.0) as u8
}

/// For each pixel of a `size`×`size` image (row-major), the fraction of its
/// subsamples for which each of `shape`'s two tests holds.
fn raster(size: u32, shape: impl Fn(f32, f32) -> (bool, bool)) -> Vec<(f32, f32)> {
    let samples = (SUPERSAMPLE * SUPERSAMPLE) as f32;
    let mut pixels = Vec::with_capacity((size * size) as usize);
    for py in 0..size {
        for px in 0..size {
            let (mut a, mut b) = (0u32, 0u32);
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let x = px as f32 + (sx as f32 + 0.5) / SUPERSAMPLE as f32;
                    let y = py as f32 + (sy as f32 + 0.5) / SUPERSAMPLE as f32;
                    let (in_a, in_b) = shape(x, y);
                    a += u32::from(in_a);
                    b += u32::from(in_b);
                }
            }
            pixels.push((a as f32 / samples, b as f32 / samples));
        }
    }
    pixels
}

/// The glyph, in a unit square (y down): two overlapping speech bubbles, the
/// front one with three "typing" dots, a conversation passed from one side
/// to the other. A gap is cut around the front bubble so the two read apart
/// when drawn in a single colour, as the outline icon must be.
fn glyph_contains(x: f32, y: f32) -> bool {
    const GAP: f32 = 0.07;
    let front_body = rounded_rect_sdf(x, y, 0.67, 0.56, 0.31, 0.24, 0.13);
    let front_tail = in_triangle(x, y, (0.68, 0.76), (0.88, 0.76), (0.93, 0.97));
    let dot = [0.53, 0.67, 0.81]
        .iter()
        .any(|&cx| (x - cx).hypot(y - 0.56) <= 0.05);
    let front = (front_body <= 0.0 || front_tail) && !dot;

    let back_body = rounded_rect_sdf(x, y, 0.33, 0.30, 0.31, 0.24, 0.13);
    let back_tail = in_triangle(x, y, (0.12, 0.50), (0.32, 0.50), (0.07, 0.71));
    let back = (back_body <= 0.0 || back_tail) && front_body > GAP;

    front || back
}

/// Signed distance from (x, y) to a rounded rectangle centred on (cx, cy)
/// with half-sizes (hw, hh) and corner radius r: negative inside.
fn rounded_rect_sdf(x: f32, y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32) -> f32 {
    let qx = (x - cx).abs() - (hw - r);
    let qy = (y - cy).abs() - (hh - r);
    qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0) - r
}

fn in_triangle(x: f32, y: f32, a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> bool {
    let side = |p: (f32, f32), q: (f32, f32)| (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    let has_neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let has_pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(has_neg && has_pos)
}

// ---------------------------------------------------------------------------
// PNG

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// An 8-bit RGBA, non-interlaced PNG of `rgba` (row-major, 4 bytes a pixel).
/// Every row uses filter 0 (none): the images are tiny and mostly flat, so
/// smarter filters would save a few hundred bytes at the cost of code.
fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let row_len = width as usize * 4;
    if rgba.len() != row_len * height as usize {
        return Err(std::io::Error::other(
            "pixel buffer does not match the image size",
        ));
    }

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 6 (RGBA), deflate, adaptive filtering, no
    // interlace: the only values the PNG spec allows for the last three.
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);

    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    for row in rgba.chunks(row_len) {
        zlib.write_all(&[0])?;
        zlib.write_all(row)?;
    }
    let idat = zlib.finish()?;

    let mut png = PNG_SIGNATURE.to_vec();
    write_chunk(&mut png, b"IHDR", &ihdr)?;
    write_chunk(&mut png, b"IDAT", &idat)?;
    write_chunk(&mut png, b"IEND", &[])?;
    Ok(png)
}

fn write_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), std::io::Error> {
    png.extend_from_slice(&len_u32(data.len())?.to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    // The CRC covers the chunk type and data, not the length.
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(&crc.finalize().to_be_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------
// Zip

const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIR_SIG: u32 = 0x0605_4b50;
/// General purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
/// 1980-01-01 00:00:00, the earliest DOS date: a fixed timestamp keeps the
/// package byte-for-byte reproducible.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

/// A zip archive of `files` (name, contents), in order, each deflated unless
/// that would make it bigger (PNGs are already compressed). Sizes and CRCs
/// go in the local headers, so no data descriptors are needed.
fn write_zip(files: &[(&str, &[u8])]) -> Result<Vec<u8>, PackageError> {
    let mut zip = Vec::new();
    let mut central = Vec::new();
    for &(name, data) in files {
        let crc = crc32fast::hash(data);
        let deflated = {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
            encoder.write_all(data)?;
            encoder.finish()?
        };
        let (method, stored): (u16, &[u8]) = if deflated.len() < data.len() {
            (METHOD_DEFLATE, &deflated)
        } else {
            (METHOD_STORED, data)
        };
        // 2.0 is needed to extract deflate, 1.0 for stored files.
        let version_needed: u16 = if method == METHOD_DEFLATE { 20 } else { 10 };
        let offset = len_u32(zip.len())?;
        let compressed_size = len_u32(stored.len())?;
        let size = len_u32(data.len())?;
        let name_len = u16::try_from(name.len()).map_err(std::io::Error::other)?;

        put32(&mut zip, LOCAL_HEADER_SIG);
        put16(&mut zip, version_needed);
        put16(&mut zip, FLAG_UTF8);
        put16(&mut zip, method);
        put16(&mut zip, DOS_TIME);
        put16(&mut zip, DOS_DATE);
        put32(&mut zip, crc);
        put32(&mut zip, compressed_size);
        put32(&mut zip, size);
        put16(&mut zip, name_len);
        put16(&mut zip, 0); // extra field length
        zip.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(stored);

        put32(&mut central, CENTRAL_HEADER_SIG);
        put16(&mut central, 20); // made by: zip 2.0 on MS-DOS, so no Unix modes
        put16(&mut central, version_needed);
        put16(&mut central, FLAG_UTF8);
        put16(&mut central, method);
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, compressed_size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        put16(&mut central, 0); // extra field length
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number start
        put16(&mut central, 0); // internal attributes
        put32(&mut central, 0); // external attributes
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let entries = u16::try_from(files.len()).map_err(std::io::Error::other)?;
    let central_offset = len_u32(zip.len())?;
    let central_size = len_u32(central.len())?;
    zip.extend_from_slice(&central);

    put32(&mut zip, END_OF_CENTRAL_DIR_SIG);
    put16(&mut zip, 0); // this disk
    put16(&mut zip, 0); // disk with the central directory
    put16(&mut zip, entries); // entries on this disk
    put16(&mut zip, entries); // entries in total
    put32(&mut zip, central_size);
    put32(&mut zip, central_offset);
    put16(&mut zip, 0); // comment length
    Ok(zip)
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length as the u32 both formats store, refusing rather than truncating.
fn len_u32(len: usize) -> Result<u32, std::io::Error> {
    u32::try_from(len).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::{DeflateDecoder, ZlibDecoder};
    use serde_json::Value;
    use std::io::Read;

    const APP_ID: &str = "1b4f0c2e-7a3d-4e59-9c1b-2f6a8d0e3c71";

    fn opts() -> PackageOptions {
        PackageOptions {
            app_id: APP_ID.to_owned(),
            name: "handoff".to_owned(),
            public_url: "https://support.example.com".to_owned(),
            version: "1.0.0".to_owned(),
            developer: "Example Ltd".to_owned(),
        }
    }

    // -- a small zip reader, independent of the writer -----------------------

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// (name, contents) of every entry, found through the central directory
    /// and checked against its local header and CRC.
    fn read_zip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(zip, eocd), END_OF_CENTRAL_DIR_SIG, "no end record");
        assert_eq!(u16_at(zip, eocd + 20), 0, "no comment expected");
        let count = u16_at(zip, eocd + 10) as usize;
        assert_eq!(u16_at(zip, eocd + 8) as usize, count);
        let cd_size = u32_at(zip, eocd + 12) as usize;
        let mut at = u32_at(zip, eocd + 16) as usize;
        assert_eq!(
            at + cd_size,
            eocd,
            "central directory must end at the end record"
        );

        let mut entries = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(zip, at), CENTRAL_HEADER_SIG);
            let flags = u16_at(zip, at + 8);
            assert_eq!(flags & 0x0008, 0, "no data descriptors");
            let method = u16_at(zip, at + 10);
            assert_eq!(
                (u16_at(zip, at + 12), u16_at(zip, at + 14)),
                (DOS_TIME, DOS_DATE)
            );
            let crc = u32_at(zip, at + 16);
            let csize = u32_at(zip, at + 20) as usize;
            let usize_ = u32_at(zip, at + 24) as usize;
            let name_len = u16_at(zip, at + 28) as usize;
            let extra_len = u16_at(zip, at + 30) as usize;
            let comment_len = u16_at(zip, at + 32) as usize;
            let local = u32_at(zip, at + 42) as usize;
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            at += 46 + name_len + extra_len + comment_len;

            assert_eq!(u32_at(zip, local), LOCAL_HEADER_SIG);
            assert_eq!(u16_at(zip, local + 8), method);
            assert_eq!(u32_at(zip, local + 14), crc);
            assert_eq!(u32_at(zip, local + 18) as usize, csize);
            assert_eq!(u32_at(zip, local + 22) as usize, usize_);
            let lname_len = u16_at(zip, local + 26) as usize;
            let lextra_len = u16_at(zip, local + 28) as usize;
            assert_eq!(&zip[local + 30..local + 30 + lname_len], name.as_bytes());
            let start = local + 30 + lname_len + lextra_len;
            let raw = &zip[start..start + csize];
            let data = match method {
                0 => raw.to_vec(),
                8 => {
                    let mut out = Vec::new();
                    DeflateDecoder::new(raw).read_to_end(&mut out).unwrap();
                    out
                }
                other => panic!("unexpected method {other}"),
            };
            assert_eq!(data.len(), usize_, "{name}: size");
            assert_eq!(crc32fast::hash(&data), crc, "{name}: crc");
            entries.push((name, data));
        }
        assert_eq!(at, eocd);
        entries
    }

    fn entry<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
        &entries.iter().find(|(n, _)| n == name).unwrap().1
    }

    // -- a small PNG reader ---------------------------------------------------

    /// (width, height, RGBA pixels), checking every chunk CRC.
    fn read_png(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&png[..8], &PNG_SIGNATURE);
        let mut at = 8;
        let (mut width, mut height) = (0, 0);
        let mut idat = Vec::new();
        let mut seen_end = false;
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc32fast::hash(&png[at + 4..at + 8 + len]), crc);
            match kind {
                b"IHDR" => {
                    width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                    height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                    assert_eq!(&data[8..13], &[8, 6, 0, 0, 0], "8-bit RGBA");
                }
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => seen_end = true,
                other => panic!("unexpected chunk {other:?}"),
            }
            at += 12 + len;
        }
        assert!(seen_end);
        let mut raw = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
        let row = width as usize * 4;
        assert_eq!(raw.len(), (row + 1) * height as usize);
        let mut pixels = Vec::new();
        for line in raw.chunks(row + 1) {
            assert_eq!(line[0], 0, "filter type 0 only");
            pixels.extend_from_slice(&line[1..]);
        }
        (width, height, pixels)
    }

    fn manifest(opts: &PackageOptions) -> Value {
        let entries = read_zip(&app_package(opts).unwrap());
        serde_json::from_slice(entry(&entries, "manifest.json")).unwrap()
    }

    #[test]
    fn package_holds_exactly_the_three_files_at_the_root() {
        let entries = read_zip(&app_package(&opts()).unwrap());
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["manifest.json", "color.png", "outline.png"]);
    }

    #[test]
    fn zip_entries_read_back_to_their_inputs() {
        let manifest = manifest_json(&opts()).unwrap();
        let color = encode_png(COLOR_SIZE, COLOR_SIZE, &color_icon()).unwrap();
        let entries = read_zip(&app_package(&opts()).unwrap());
        assert_eq!(entry(&entries, "manifest.json"), &manifest[..]);
        assert_eq!(entry(&entries, "color.png"), &color[..]);
    }

    #[test]
    fn zip_stores_what_deflate_would_grow_and_deflates_the_rest() {
        // xorshift64: bytes deflate cannot shrink.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        let text = b"hello hello hello hello hello hello hello".to_vec();
        let zip = write_zip(&[("noise.bin", &noise), ("text.txt", &text), ("empty", &[])]).unwrap();
        let entries = read_zip(&zip);
        assert_eq!(entries[0].1, noise);
        assert_eq!(entries[1].1, text);
        assert!(entries[2].1.is_empty());
        // Methods from the central directory, in order.
        let eocd = zip.len() - 22;
        let mut at = u32_at(&zip, eocd + 16) as usize;
        let mut methods = Vec::new();
        for _ in 0..3 {
            methods.push(u16_at(&zip, at + 10));
            at += 46 + u16_at(&zip, at + 28) as usize;
        }
        assert_eq!(methods, [METHOD_STORED, METHOD_DEFLATE, METHOD_STORED]);
    }

    #[test]
    fn package_is_deterministic() {
        assert_eq!(app_package(&opts()).unwrap(), app_package(&opts()).unwrap());
        let mut other = opts();
        other.version = "1.0.1".to_owned();
        assert_ne!(app_package(&opts()).unwrap(), app_package(&other).unwrap());
    }

    #[test]
    fn manifest_has_what_teams_and_handoff_need() {
        let m = manifest(&opts());
        assert_eq!(
            m["$schema"],
            "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
        );
        assert_eq!(m["manifestVersion"], "1.17");
        assert_eq!(m["id"], APP_ID);
        assert_eq!(m["version"], "1.0.0");
        assert_eq!(m["developer"]["name"], "Example Ltd");
        for key in ["websiteUrl", "privacyUrl", "termsOfUseUrl"] {
            let url = m["developer"][key].as_str().unwrap();
            assert!(url.starts_with("https://"), "{key}: {url}");
        }
        assert_eq!(m["developer"]["websiteUrl"], "https://support.example.com");
        assert_eq!(m["name"]["short"], "handoff");
        assert!(m["name"]["full"].as_str().unwrap().chars().count() <= 100);
        let short = m["description"]["short"].as_str().unwrap();
        let full = m["description"]["full"].as_str().unwrap();
        assert!((1..=80).contains(&short.chars().count()), "{short}");
        assert!((1..=4000).contains(&full.chars().count()));
        for word in ["Claim", "Release", "Resolve", "thread", "Discord"] {
            assert!(full.contains(word), "description mentions {word}");
        }
        assert_eq!(m["icons"]["color"], "color.png");
        assert_eq!(m["icons"]["outline"], "outline.png");
        let accent = m["accentColor"].as_str().unwrap();
        assert!(accent.len() == 7 && accent.starts_with('#'));
        assert!(accent[1..].bytes().all(|b| b.is_ascii_hexdigit()));

        let bots = m["bots"].as_array().unwrap();
        assert_eq!(bots.len(), 1);
        assert_eq!(bots[0]["botId"], APP_ID);
        assert_eq!(bots[0]["scopes"], json!(["team"]));
        assert_eq!(bots[0]["supportsFiles"], false);
        assert_eq!(bots[0]["isNotificationOnly"], false);
        assert_eq!(m["permissions"], json!(["identity", "messageTeamMembers"]));
        assert_eq!(m["validDomains"], json!(["support.example.com"]));
        assert_eq!(m["webApplicationInfo"]["id"], APP_ID);
        assert!(
            !m["webApplicationInfo"]["resource"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            m["authorization"]["permissions"]["resourceSpecific"],
            json!([{ "name": "ChannelMessage.Read.Group", "type": "Application" }])
        );
    }

    #[test]
    fn public_url_is_normalised_and_its_host_is_the_valid_domain() {
        let mut o = opts();
        o.public_url = "https://Support.Example.com:8443/help/".to_owned();
        let m = manifest(&o);
        assert_eq!(
            m["developer"]["websiteUrl"],
            "https://support.example.com:8443/help"
        );
        assert_eq!(m["validDomains"], json!(["support.example.com"]));
    }

    #[test]
    fn names_and_versions_at_the_limits_are_accepted() {
        let mut o = opts();
        o.name = "é".repeat(30);
        o.developer = "d".repeat(32);
        o.version = "10.0.123".to_owned();
        o.app_id = APP_ID.to_uppercase();
        let m = manifest(&o);
        assert_eq!(m["name"]["short"], "é".repeat(30));
        assert_eq!(m["version"], "10.0.123");
    }

    fn err(change: impl FnOnce(&mut PackageOptions)) -> PackageError {
        let mut o = opts();
        change(&mut o);
        app_package(&o).unwrap_err()
    }

    #[test]
    fn app_id_must_be_a_guid() {
        for bad in [
            "",
            "handoff",
            "1b4f0c2e7a3d4e599c1b2f6a8d0e3c71",
            "1b4f0c2e-7a3d-4e59-9c1b-2f6a8d0e3c7",
            "1b4f0c2e-7a3d-4e59-9c1b-2f6a8d0e3c71-",
            "{1b4f0c2e-7a3d-4e59-9c1b-2f6a8d0e3c71}",
            "1b4f0c2g-7a3d-4e59-9c1b-2f6a8d0e3c71",
            " 1b4f0c2e-7a3d-4e59-9c1b-2f6a8d0e3c71",
        ] {
            let e = err(|o| o.app_id = bad.to_owned());
            assert!(
                matches!(e, PackageError::InvalidAppId { .. }),
                "{bad:?}: {e}"
            );
            assert!(e.to_string().contains("TEAMS_APP_ID"), "{e}");
        }
        let e = err(|o| o.app_id = "00000000-0000-0000-0000-000000000000".to_owned());
        assert!(matches!(e, PackageError::PlaceholderAppId), "{e}");
    }

    #[test]
    fn name_must_be_1_to_30_characters() {
        assert!(matches!(
            err(|o| o.name = String::new()),
            PackageError::InvalidName { len: 0, max: 30 }
        ));
        assert!(matches!(
            err(|o| o.name = "   ".to_owned()),
            PackageError::InvalidName { len: 0, .. }
        ));
        assert!(matches!(
            err(|o| o.name = "x".repeat(31)),
            PackageError::InvalidName { len: 31, .. }
        ));
    }

    #[test]
    fn developer_must_fit_teams_limit() {
        assert!(matches!(
            err(|o| o.developer = String::new()),
            PackageError::InvalidDeveloper { len: 0, max: 32 }
        ));
        assert!(matches!(
            err(|o| o.developer = "d".repeat(33)),
            PackageError::InvalidDeveloper { len: 33, .. }
        ));
    }

    #[test]
    fn version_must_be_three_plain_numbers() {
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "v1.0.0",
            "1.0.0-beta",
            "1.0.0+1",
            "01.0.0",
            "1..0",
            "1.a.0",
        ] {
            let e = err(|o| o.version = bad.to_owned());
            assert!(
                matches!(e, PackageError::InvalidVersion { .. }),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn public_url_must_be_https() {
        let e = err(|o| o.public_url = "http://support.example.com".to_owned());
        assert!(matches!(e, PackageError::InsecurePublicUrl { .. }));
        assert!(e.to_string().contains("https"), "{e}");
        for bad in [
            "",
            "support.example.com",
            "/support",
            "ftp://support.example.com",
            "https://user:pw@support.example.com",
            "https://support.example.com/?a=1",
            "https://support.example.com/#top",
        ] {
            let e = err(|o| o.public_url = bad.to_owned());
            assert!(
                matches!(e, PackageError::InvalidPublicUrl { .. }),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn color_icon_is_192_square_rgba_in_brand_colours() {
        let entries = read_zip(&app_package(&opts()).unwrap());
        let (w, h, px) = read_png(entry(&entries, "color.png"));
        assert_eq!((w, h), (192, 192));
        let at = |x: usize, y: usize| &px[(y * 192 + x) * 4..(y * 192 + x) * 4 + 4];
        assert_eq!(at(0, 0)[3], 0, "rounded corners are transparent");
        assert_eq!(
            at(96, 8),
            &[BRAND[0], BRAND[1], BRAND[2], 255],
            "brand background"
        );
        // The glyph is there: a good share of opaque white pixels.
        let white = px.chunks(4).filter(|p| p == &[255, 255, 255, 255]).count();
        assert!(white > 192 * 192 / 10, "white glyph pixels: {white}");
    }

    #[test]
    fn outline_icon_is_32_square_white_on_transparent() {
        let entries = read_zip(&app_package(&opts()).unwrap());
        let (w, h, px) = read_png(entry(&entries, "outline.png"));
        assert_eq!((w, h), (32, 32));
        assert!(
            px.chunks(4).all(|p| p[..3] == [255, 255, 255]),
            "only white"
        );
        let opaque = px.chunks(4).filter(|p| p[3] == 255).count();
        let clear = px.chunks(4).filter(|p| p[3] == 0).count();
        assert!(opaque > 100, "glyph drawn: {opaque}");
        assert!(clear > 300, "background transparent: {clear}");
    }
}
