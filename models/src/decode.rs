//! Image bytes to RGB pixels: the formats SmartFace accepts, EXIF
//! orientation applied, and a pixel limit enforced before decoding.

use crate::error::EngineError;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;

/// A decoded, upright image and the format it came in.
pub struct DecodedImage {
    pub pixels: RgbImage,
    pub format: ImageFormat,
}

const ACCEPTED: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Bmp,
    ImageFormat::WebP,
    ImageFormat::Tiff,
];

/// Decodes `bytes`, refusing images over `max_pixels` from their header,
/// before any pixel is decoded.
pub fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<DecodedImage, EngineError> {
    let unreadable = |e: &dyn std::fmt::Display| EngineError::UnreadableImage(e.to_string());
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?;
    let format = reader
        .format()
        .filter(|f| ACCEPTED.contains(f))
        .ok_or_else(|| {
            EngineError::UnreadableImage("not a JPEG, PNG, BMP, WebP or TIFF image".into())
        })?;
    let mut decoder = reader.into_decoder().map_err(|e| unreadable(&e))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(EngineError::ImageTooLarge {
            width,
            height,
            max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(EngineError::UnreadableImage("the image is empty".into()));
    }
    let orientation = decoder.orientation().map_err(|e| unreadable(&e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| unreadable(&e))?;
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        pixels: image.into_rgb8(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn every_accepted_format_decodes_to_the_same_pixels() {
        let image = RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 7]));
        for format in [
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
        ] {
            let decoded = decode_image(&encode(&image, format), 1 << 20).unwrap();
            assert_eq!(decoded.format, format);
            assert_eq!(decoded.pixels, image, "{format:?}");
        }
        let jpeg = decode_image(&encode(&image, ImageFormat::Jpeg), 1 << 20).unwrap();
        assert_eq!(jpeg.pixels.dimensions(), (8, 6));
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_refused_before_decoding() {
        let image = RgbImage::new(100, 100);
        let error = decode_image(&encode(&image, ImageFormat::Png), 9_999)
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
    fn garbage_and_truncated_files_are_clean_errors() {
        let png = encode(&RgbImage::new(50, 50), ImageFormat::Png);
        for bytes in [&b""[..], b"hello", &png[..png.len() / 2], &png[..20]] {
            let error = decode_image(bytes, 1 << 20).err().unwrap();
            assert!(error.is_client_error(), "{error}");
        }
    }
}
