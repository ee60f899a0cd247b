//! Image bytes to RGB pixels: the formats SmartFace accepts, EXIF
//! orientation applied, and limits on pixels and on the memory a decode
//! takes enforced from the header, before any pixel is decoded. A JPEG cut
//! short is refused: its decoder would pad it with grey.

use crate::error::EngineError;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// A decoded, upright image and the format it came in.
pub struct DecodedImage {
    pub pixels: RgbImage,
    pub format: ImageFormat,
}

/// What one decode may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    /// Width x height.
    pub max_pixels: u64,
    /// Bytes held at once at the decode's peak (see `ImageHeader`).
    pub max_memory_bytes: u64,
}

impl DecodeLimits {
    /// For files the operator chose (benchmarks, tests).
    pub const UNLIMITED: DecodeLimits = DecodeLimits {
        max_pixels: u64::MAX,
        max_memory_bytes: u64::MAX,
    };
}

/// An image's header, checked against the limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageHeader {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// The most bytes its decode holds at once: the decoder's own buffers
    /// and output, the conversion to RGB and the rotation upright, an
    /// upper bound measured per format in the tests below.
    pub decode_memory: u64,
}

const ACCEPTED: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Bmp,
    ImageFormat::WebP,
    ImageFormat::Tiff,
];

/// What any decoder may hold beside whole-image buffers: rows, zlib's
/// window, Huffman and quantisation tables, metadata.
const DECODER_SLACK: u64 = 4 << 20;

/// Reads and checks the header of `bytes` only: what decoding would take.
pub fn read_header(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageHeader, EngineError> {
    open(bytes, limits).map(|(_, _, header)| header)
}

/// Decodes `bytes`, refusing from the header an image over `limits`, and
/// capping the decoder's own allocations to what the header promised.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, EngineError> {
    let (mut decoder, orientation, header) = open(bytes, limits)?;
    let mut allowed = Limits::no_limits();
    allowed.max_alloc = Some(header.decode_memory);
    allowed.reserve(decoder.total_bytes()).map_err(unreadable)?;
    decoder.set_limits(allowed).map_err(unreadable)?;
    // RGB first, then upright: a rotation copies the smaller image.
    let rgb = DynamicImage::from_decoder(decoder)
        .map_err(unreadable)?
        .into_rgb8();
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        pixels: image.into_rgb8(),
        format: header.format,
    })
}

fn unreadable(e: impl std::fmt::Display) -> EngineError {
    EngineError::UnreadableImage(e.to_string())
}

/// The decoder of `bytes` with its header read and checked.
fn open<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<(impl ImageDecoder + 'a, Orientation, ImageHeader), EngineError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(unreadable)?;
    let format = reader
        .format()
        .filter(|f| ACCEPTED.contains(f))
        .ok_or_else(|| {
            EngineError::UnreadableImage("not a JPEG, PNG, BMP, WebP or TIFF image".into())
        })?;
    let jpeg = match format {
        ImageFormat::Jpeg => Some(jpeg_scans(bytes).ok_or_else(|| {
            EngineError::UnreadableImage(
                "the JPEG data is cut short: it ends before its end-of-image marker".into(),
            )
        })?),
        _ => None,
    };
    // Caps what the PNG decoder allocates for its header's chunks.
    let mut header_limits = Limits::no_limits();
    header_limits.max_alloc = Some(limits.max_memory_bytes);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(EngineError::ImageTooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(EngineError::UnreadableImage("the image is empty".into()));
    }
    let orientation = decoder.orientation().map_err(unreadable)?;
    let header = ImageHeader {
        format,
        width,
        height,
        decode_memory: decode_memory(
            (width, height),
            decoder.color_type(),
            orientation,
            decoder_scratch(
                format,
                (width, height),
                decoder.total_bytes(),
                jpeg,
                bytes.len(),
            ),
        ),
    };
    if header.decode_memory > limits.max_memory_bytes {
        return Err(EngineError::ImageNeedsTooMuchMemory {
            width,
            height,
            needed_bytes: header.decode_memory,
            max_bytes: limits.max_memory_bytes,
        });
    }
    Ok((decoder, orientation, header))
}

/// What a decoder holds beside its output, for an image of `decoded`
/// bytes from `compressed` bytes.
fn decoder_scratch(
    format: ImageFormat,
    (width, height): (u32, u32),
    decoded: u64,
    jpeg: Option<JpegScans>,
    compressed: usize,
) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    DECODER_SLACK
        + match (format, jpeg) {
            // zune-jpeg copies the input; a progressive JPEG, or one of
            // several scans, keeps every component's coefficients until
            // the last scan: up to four i16 a pixel, in whole 16-pixel
            // blocks (zune-jpeg's mcu_prog.rs and mcu.rs).
            (ImageFormat::Jpeg, Some(scans)) if scans.progressive || scans.scans > 1 => {
                let blocks = |side: u32| u64::from(side).div_ceil(16) * 16;
                compressed as u64 + blocks(width) * blocks(height) * 8
            }
            // One baseline scan is decoded a row of blocks at a time.
            (ImageFormat::Jpeg, _) => compressed as u64,
            // A strip or tile can be the whole image, decompressed before
            // it is copied out.
            (ImageFormat::Tiff, _) => decoded,
            // A lossy frame goes through YUV planes and an alpha plane, a
            // lossless one through a word a pixel.
            (ImageFormat::WebP, _) => pixels * 4,
            _ => 0,
        }
}

/// The most bytes a decode holds at once (see `ImageHeader`): the largest
/// of its three steps, each freeing the one before.
fn decode_memory(
    (width, height): (u32, u32),
    color: ColorType,
    orientation: Orientation,
    scratch: u64,
) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let decoded = pixels * u64::from(color.bytes_per_pixel());
    let rgb = pixels * 3;
    let decoding = scratch + decoded;
    // The decoder's output and its RGB copy, unless it is RGB already.
    let converting = match color {
        ColorType::Rgb8 => 0,
        _ => decoded + rgb,
    };
    // A quarter turn copies the RGB image.
    let rotating = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => 2 * rgb,
        _ => 0,
    };
    decoding.max(converting).max(rotating)
}

/// How a JPEG's data is laid out, as far as its decoder's memory goes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct JpegScans {
    progressive: bool,
    scans: usize,
}

/// The scans of a JPEG, or `None` when it is cut short of its end-of-image
/// marker. Segments are skipped by their length (an EXIF thumbnail's own
/// end marker is inside one), and entropy-coded data, where a 0xFF byte is
/// always followed by 0 or a restart marker, up to the next marker. Data
/// after the end marker is allowed: cameras append some.
fn jpeg_scans(bytes: &[u8]) -> Option<JpegScans> {
    const SOF2: u8 = 0xC2;
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    let mut found = JpegScans {
        progressive: false,
        scans: 0,
    };
    let mut at = 2; // past SOI, which the format guess saw
    while at + 1 < bytes.len() {
        if bytes[at] != 0xFF {
            // Entropy-coded data (or stray bytes, which decoders skip).
            at += 1;
            continue;
        }
        let marker = bytes[at + 1];
        match marker {
            EOI => return Some(found),
            // Fill bytes, stuffed zeros and restart markers carry no length.
            0xFF => at += 1,
            0x00 | 0xD0..=0xD7 | 0x01 => at += 2,
            _ => {
                let length = bytes.get(at + 2..at + 4)?;
                at += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                found.progressive |= marker == SOF2;
                found.scans += usize::from(marker == SOS);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    /// Counts the bytes each thread holds, to measure a decode's peak.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static LIVE: Cell<u64> = const { Cell::new(0) };
            static PEAK: Cell<u64> = const { Cell::new(0) };
        }

        fn grow(bytes: usize) {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + bytes as u64);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }

        fn shrink(bytes: usize) {
            let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes as u64)));
        }

        struct Counting;

        // SAFETY: every call is passed to the system allocator unchanged.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let pointer = unsafe { System.alloc(layout) };
                if !pointer.is_null() {
                    grow(layout.size());
                }
                pointer
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                let pointer = unsafe { System.alloc_zeroed(layout) };
                if !pointer.is_null() {
                    grow(layout.size());
                }
                pointer
            }

            unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
                unsafe { System.dealloc(pointer, layout) };
                shrink(layout.size());
            }

            unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
                let moved = unsafe { System.realloc(pointer, layout, size) };
                if !moved.is_null() {
                    // Both blocks may be held for a moment.
                    grow(size);
                    shrink(layout.size());
                }
                moved
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;

        /// Runs `work` on this thread: its result, and the most bytes it
        /// held at once beyond what the thread held before.
        pub fn peak_of<T>(work: impl FnOnce() -> T) -> (T, u64) {
            let before = LIVE.with(Cell::get);
            PEAK.with(|peak| peak.set(before));
            let result = work();
            (result, PEAK.with(Cell::get) - before)
        }
    }

    fn encode<P: image::PixelWithColorType>(
        image: &ImageBuffer<P, Vec<P::Subpixel>>,
        format: ImageFormat,
    ) -> Vec<u8>
    where
        [P::Subpixel]: image::EncodableLayout,
    {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    /// A picture with detail, so that JPEG's data is not trivial.
    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([((x * 7) ^ (y * 3)) as u8, (x + y * 5) as u8, (x * y) as u8])
        })
    }

    #[test]
    fn every_accepted_format_decodes_to_the_same_pixels() {
        let image = RgbImage::from_fn(8, 6, |x, y| Rgb([x as u8 * 30, y as u8 * 40, 7]));
        for format in [
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
        ] {
            let decoded = decode_image(&encode(&image, format), &DecodeLimits::UNLIMITED).unwrap();
            assert_eq!(decoded.format, format);
            assert_eq!(decoded.pixels, image, "{format:?}");
        }
        let jpeg =
            decode_image(&encode(&image, ImageFormat::Jpeg), &DecodeLimits::UNLIMITED).unwrap();
        assert_eq!(jpeg.pixels.dimensions(), (8, 6));
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_refused_before_decoding() {
        let image = RgbImage::new(100, 100);
        let limits = DecodeLimits {
            max_pixels: 9_999,
            ..DecodeLimits::UNLIMITED
        };
        let error = decode_image(&encode(&image, ImageFormat::Png), &limits)
            .err()
            .unwrap();
        assert_eq!(
            error,
            EngineError::ImageTooLarge {
                width: 100,
                height: 100,
                max_pixels: 9_999
            }
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header_with_almost_no_memory() {
        // The finding's bomb: 40 MP of black, a few hundred KiB of PNG,
        // 114 MiB as RGB.
        let bomb = encode(&RgbImage::new(6324, 6324), ImageFormat::Png);
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let limits = DecodeLimits {
            max_pixels: 16_000_000,
            max_memory_bytes: 256 << 20,
        };
        let (refused, held) = counting::peak_of(|| decode_image(&bomb, &limits));
        assert!(matches!(refused, Err(EngineError::ImageTooLarge { .. })));
        // Under the pixel limit, the memory limit refuses it just as early.
        let limits = DecodeLimits {
            max_pixels: 1 << 30,
            max_memory_bytes: 64 << 20,
        };
        let (too_much, held_too) = counting::peak_of(|| decode_image(&bomb, &limits));
        assert_eq!(
            too_much.err(),
            Some(EngineError::ImageNeedsTooMuchMemory {
                width: 6324,
                height: 6324,
                needed_bytes: read_header(&bomb, &DecodeLimits::UNLIMITED)
                    .unwrap()
                    .decode_memory,
                max_bytes: 64 << 20,
            })
        );
        for held in [held, held_too] {
            assert!(held < 1 << 20, "the refusal held {held} bytes");
        }
    }

    #[test]
    fn the_memory_a_decode_holds_is_within_what_its_header_promised() {
        let (width, height) = (1200, 900);
        let rgb = picture(width, height);
        let rgba16: ImageBuffer<Rgba<u16>, Vec<u16>> =
            ImageBuffer::from_fn(width, height, |x, y| {
                let [r, g, b] = rgb.get_pixel(x, y).0.map(|v| u16::from(v) * 257);
                Rgba([r, g, b, 65535])
            });
        let rgba8: ImageBuffer<Rgba<u8>, Vec<u8>> =
            DynamicImage::ImageRgb8(rgb.clone()).into_rgba8();
        let grey: ImageBuffer<Luma<u8>, Vec<u8>> =
            DynamicImage::ImageRgb8(rgb.clone()).into_luma8();
        let files = [
            ("RGB JPEG", encode(&rgb, ImageFormat::Jpeg)),
            ("grey JPEG", encode(&grey, ImageFormat::Jpeg)),
            ("RGB PNG", encode(&rgb, ImageFormat::Png)),
            ("16-bit RGBA PNG", encode(&rgba16, ImageFormat::Png)),
            ("grey PNG", encode(&grey, ImageFormat::Png)),
            ("RGB BMP", encode(&rgb, ImageFormat::Bmp)),
            ("RGBA BMP", encode(&rgba8, ImageFormat::Bmp)),
            ("RGB WebP", encode(&rgb, ImageFormat::WebP)),
            ("RGBA WebP", encode(&rgba8, ImageFormat::WebP)),
            ("RGB TIFF", encode(&rgb, ImageFormat::Tiff)),
            ("16-bit RGBA TIFF", encode(&rgba16, ImageFormat::Tiff)),
        ];
        for (name, bytes) in files {
            let promised = read_header(&bytes, &DecodeLimits::UNLIMITED)
                .unwrap()
                .decode_memory;
            let (decoded, held) =
                counting::peak_of(|| decode_image(&bytes, &DecodeLimits::UNLIMITED));
            assert_eq!(decoded.unwrap().pixels.dimensions(), (width, height));
            assert!(
                held <= promised,
                "{name}: held {held} bytes, promised {promised}"
            );
            // Exactly what it promised is enough: the cap on the decoder's
            // allocations does not refuse it.
            let exact = DecodeLimits {
                max_memory_bytes: promised,
                ..DecodeLimits::UNLIMITED
            };
            assert!(decode_image(&bytes, &exact).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_quarter_turn_counts_a_second_rgb_image() {
        let memory =
            |orientation| decode_memory((4000, 3000), ColorType::Rgb8, orientation, DECODER_SLACK);
        let rgb = 4000 * 3000 * 3;
        assert_eq!(memory(Orientation::NoTransforms), DECODER_SLACK + rgb);
        assert_eq!(memory(Orientation::Rotate180), DECODER_SLACK + rgb);
        for turn in [Orientation::Rotate90, Orientation::Rotate270FlipH] {
            assert_eq!(memory(turn), 2 * rgb);
        }
    }

    #[test]
    fn a_progressive_or_multi_scan_jpeg_counts_its_coefficients() {
        let jpeg = encode(&picture(320, 240), ImageFormat::Jpeg);
        let baseline = jpeg_scans(&jpeg).unwrap();
        assert_eq!(
            baseline,
            JpegScans {
                progressive: false,
                scans: 1
            }
        );
        let scratch = |scans| decoder_scratch(ImageFormat::Jpeg, (320, 240), 0, Some(scans), 1000);
        assert_eq!(scratch(baseline), DECODER_SLACK + 1000);
        let progressive = JpegScans {
            progressive: true,
            ..baseline
        };
        let scans = JpegScans {
            scans: 3,
            ..baseline
        };
        for layout in [progressive, scans] {
            assert_eq!(scratch(layout), DECODER_SLACK + 1000 + 320 * 240 * 8);
        }
    }

    #[test]
    fn a_cut_jpeg_is_refused_not_padded_with_grey() {
        let jpeg = encode(&picture(320, 240), ImageFormat::Jpeg);
        assert!(decode_image(&jpeg, &DecodeLimits::UNLIMITED).is_ok());
        let cut = &jpeg[..jpeg.len() * 7 / 10];
        let error = decode_image(cut, &DecodeLimits::UNLIMITED).err().unwrap();
        assert!(error.is_client_error(), "{error}");
        assert!(error.to_string().contains("cut short"), "{error}");
        assert!(read_header(cut, &DecodeLimits::UNLIMITED).is_err());
        // An end marker inside a segment (an EXIF thumbnail's) does not make
        // a cut JPEG whole...
        let thumbnail = [0xFF, 0xD8, 0x00, 0xFF, 0xD9];
        let mut with_thumbnail = jpeg[..2].to_vec();
        with_thumbnail.extend_from_slice(&[0xFF, 0xE1, 0x00, 2 + thumbnail.len() as u8]);
        with_thumbnail.extend_from_slice(&thumbnail);
        with_thumbnail.extend_from_slice(&jpeg[2..]);
        assert!(decode_image(&with_thumbnail, &DecodeLimits::UNLIMITED).is_ok());
        let cut = &with_thumbnail[..with_thumbnail.len() * 7 / 10];
        assert!(decode_image(cut, &DecodeLimits::UNLIMITED).is_err());
        // ...and bytes after the marker, which some cameras append, are
        // allowed.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailer");
        assert!(decode_image(&trailing, &DecodeLimits::UNLIMITED).is_ok());
    }

    #[test]
    fn garbage_and_cut_files_of_every_format_are_clean_errors() {
        let image = picture(200, 150);
        let mut bad: Vec<Vec<u8>> = vec![b"".to_vec(), b"hello".to_vec()];
        for format in ACCEPTED {
            let bytes = encode(&image, format);
            for share in [2, 5, 7, 9] {
                bad.push(bytes[..bytes.len() * share / 10].to_vec());
            }
            bad.push(bytes[..20].to_vec());
        }
        for bytes in bad {
            let error = decode_image(&bytes, &DecodeLimits::UNLIMITED).err();
            let format = image::guess_format(&bytes).ok();
            let error =
                error.unwrap_or_else(|| panic!("{format:?} of {} bytes decoded", bytes.len()));
            assert!(error.is_client_error(), "{error}");
        }
    }
}
