//! `GET /api/v1/Images/{id}`: a stored image, optionally scaled down.
//!
//! `maxSize` bounds the longer edge and `minSize` the shorter edge, both
//! keeping the aspect ratio; with both, the image is scaled so that both
//! hold where possible, and `maxSize` wins when they conflict. Images are
//! never scaled up: a request for a larger size returns the stored image
//! as it is. A scaled image is returned as JPEG.

use super::paging::query_parameters;
use super::problem::Problem;
use super::Api;
use facegate_models::image::{imageops::FilterType, ImageFormat};
use facegate_models::{decode_image, read_header, DecodeLimits};
use rouille::{Request, Response};
use std::io::Cursor;

fn size_parameter(value: &str, name: &str) -> Result<u32, Problem> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=100_000).contains(n))
        .ok_or_else(|| {
            Problem::invalid_field(name, format!("{name} must be an integer from 1 to 100000"))
        })
}

/// The scale factor (at most 1) that `minSize`/`maxSize` ask of an image.
fn scale_for(width: u32, height: u32, min_size: Option<u32>, max_size: Option<u32>) -> f64 {
    let (short, long) = (width.min(height) as f64, width.max(height) as f64);
    let by_min = min_size.map_or(1.0, |m| m as f64 / short);
    let by_max = max_size.map_or(1.0, |m| m as f64 / long);
    by_min.min(by_max).min(1.0)
}

pub fn get(api: &Api, request: &Request, id: &str) -> Result<Response, Problem> {
    let (mut min_size, mut max_size) = (None, None);
    for (name, value) in query_parameters(request)? {
        match name.as_str() {
            "minsize" => min_size = Some(size_parameter(&value, "minSize")?),
            "maxsize" => max_size = Some(size_parameter(&value, "maxSize")?),
            _ => {}
        }
    }
    let image = api
        .core
        .catalog
        .store
        .image(id)
        .map_err(Problem::from)?
        .ok_or_else(|| Problem::not_found(format!("image `{id}` does not exist")))?;
    if min_size.is_none() && max_size.is_none() {
        return Ok(Response::from_data(image.content_type, image.bytes));
    }
    // A stored image was taken within the limits of its day; scaling it
    // shares the decode memory budget with the biometric requests, so that
    // many at once cannot take more.
    let limits = DecodeLimits {
        max_pixels: u64::MAX,
        max_memory_bytes: api.admission.decode_memory(),
    };
    let header = read_header(&image.bytes, &limits).map_err(|e| Problem::internal(&e))?;
    let _memory = api.admission.reserve_decode(header.decode_memory)?;
    let decoded = decode_image(&image.bytes, &limits).map_err(|e| Problem::internal(&e))?;
    let (width, height) = decoded.pixels.dimensions();
    let scale = scale_for(width, height, min_size, max_size);
    if scale >= 1.0 {
        return Ok(Response::from_data(image.content_type, image.bytes));
    }
    let scaled = facegate_models::image::imageops::resize(
        &decoded.pixels,
        ((width as f64 * scale).round() as u32).max(1),
        ((height as f64 * scale).round() as u32).max(1),
        FilterType::Triangle,
    );
    let mut jpeg = Cursor::new(Vec::new());
    scaled
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .map_err(|e| Problem::internal(&e))?;
    Ok(Response::from_data("image/jpeg", jpeg.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::scale_for;

    #[test]
    fn sizes_scale_down_by_the_tighter_bound_and_never_up() {
        assert_eq!(scale_for(1000, 500, None, Some(100)), 0.1);
        assert_eq!(scale_for(1000, 500, Some(100), None), 0.2);
        assert_eq!(scale_for(1000, 500, Some(100), Some(100)), 0.1);
        assert_eq!(scale_for(1000, 500, Some(2000), None), 1.0);
        assert_eq!(scale_for(1000, 500, None, None), 1.0);
    }
}
