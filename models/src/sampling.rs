//! Pixel geometry shared by the networks: crop rectangles, bilinear
//! resampling with OpenCV's conventions (the networks were trained on
//! OpenCV's `resize` and `warpAffine`), and image-to-tensor conversion.

use image::RgbImage;
use ndarray::Array4;

/// A rectangle of whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// Floating-point RGB pixels, row-major and interleaved.
pub struct Patch {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<f32>,
}

/// The faceplugin package's crop around a face box: the box scaled by
/// `scale` about its centre (less if the image is too small), then shifted,
/// not shrunk, to lie inside the image.
pub fn scaled_crop(image_w: u32, image_h: u32, bbox: [f32; 4], scale: f32) -> Rect {
    let (w_img, h_img) = (image_w as f32, image_h as f32);
    let (x, y) = (bbox[0] as i64, bbox[1] as i64);
    let bw = ((bbox[2] as i64 - x).abs()).max(1) as f32;
    let bh = ((bbox[3] as i64 - y).abs()).max(1) as f32;
    let scale = scale.min((h_img - 1.0) / bh).min((w_img - 1.0) / bw);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (bw / 2.0 + x as f32, bh / 2.0 + y as f32);
    let (mut l, mut t, mut r, mut b) = (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > w_img - 1.0 {
        l -= r - w_img + 1.0;
        r = w_img - 1.0;
    }
    if b > h_img - 1.0 {
        t -= b - h_img + 1.0;
        b = h_img - 1.0;
    }
    Rect {
        x: (l as i64).max(0),
        y: (t as i64).max(0),
        // `min` then `max`, not `clamp`: a 1-pixel image has no valid range.
        w: ((r - l) as i64).min(image_w as i64 - 1).max(1),
        h: ((b - t) as i64).min(image_h as i64 - 1).max(1),
    }
}

/// The part of `rect` inside the image (at least one pixel).
fn clip(rect: Rect, image: &RgbImage) -> Rect {
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let x = rect.x.clamp(0, iw - 1);
    let y = rect.y.clamp(0, ih - 1);
    Rect {
        x,
        y,
        w: rect.w.min(iw - x).max(1),
        h: rect.h.min(ih - y).max(1),
    }
}

fn pixel(image: &RgbImage, x: i64, y: i64) -> [f32; 3] {
    let p = image.get_pixel(x as u32, y as u32).0;
    [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
}

/// Bilinear interpolation between the four pixels around a point
/// (top-left, top-right, bottom-left, bottom-right), appended to `out`.
fn blend(corners: &[[f32; 3]; 4], wx: f32, wy: f32, out: &mut Vec<f32>) {
    let [tl, tr, bl, br] = corners;
    for (((tl, tr), bl), br) in tl.iter().zip(tr).zip(bl).zip(br) {
        let top = tl + (tr - tl) * wx;
        let bottom = bl + (br - bl) * wx;
        out.push(top + (bottom - top) * wy);
    }
}

/// OpenCV `resize(image[rect], (width, height))` with INTER_LINEAR: pixel
/// centres aligned, the crop's edge pixels repeated.
pub fn resize_crop(image: &RgbImage, rect: Rect, width: usize, height: usize) -> Patch {
    let rect = clip(rect, image);
    let (sx, sy) = (rect.w as f32 / width as f32, rect.h as f32 / height as f32);
    let mut rgb = Vec::with_capacity(width * height * 3);
    for dy in 0..height {
        let fy = ((dy as f32 + 0.5) * sy - 0.5).clamp(0.0, (rect.h - 1) as f32);
        let y0 = fy.floor() as i64;
        let y1 = (y0 + 1).min(rect.h - 1);
        let wy = fy - y0 as f32;
        for dx in 0..width {
            let fx = ((dx as f32 + 0.5) * sx - 0.5).clamp(0.0, (rect.w - 1) as f32);
            let x0 = fx.floor() as i64;
            let x1 = (x0 + 1).min(rect.w - 1);
            let wx = fx - x0 as f32;
            let corners = [
                pixel(image, rect.x + x0, rect.y + y0),
                pixel(image, rect.x + x1, rect.y + y0),
                pixel(image, rect.x + x0, rect.y + y1),
                pixel(image, rect.x + x1, rect.y + y1),
            ];
            blend(&corners, wx, wy, &mut rgb);
        }
    }
    Patch { width, height, rgb }
}

/// Each output index's source pixels and weights along one axis of a
/// resize from `length` pixels starting at `start` to `side`: the
/// covered share of each pixel when shrinking (OpenCV's INTER_AREA),
/// the two nearest pixel centres when growing (as INTER_AREA does).
fn area_taps(start: f32, length: f32, side: usize) -> Vec<Vec<(i64, f32)>> {
    let scale = length / side as f32;
    (0..side)
        .map(|d| {
            if scale <= 1.0 {
                let f = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, length - 1.0);
                let i = f.floor();
                let w = f - i;
                let i = start as i64 + i as i64;
                return vec![(i, 1.0 - w), (i + 1, w)];
            }
            let (from, to) = (start + d as f32 * scale, start + (d + 1) as f32 * scale);
            (from.floor() as i64..to.ceil() as i64)
                .map(|i| {
                    let covered = (to.min(i as f32 + 1.0) - from.max(i as f32)).max(0.0);
                    (i, covered / scale)
                })
                .collect()
        })
        .collect()
}

/// OpenCV `resize(padded[rect], (side, side), INTER_AREA)` of the
/// rectangle `[x, y, w, h]` in pixels, black where it leaves the image (as
/// MTCNN pads its crops).
pub fn area_resize(image: &RgbImage, rect: [f32; 4], side: usize) -> Patch {
    let [x, y, w, h] = rect;
    let (columns, rows) = (area_taps(x, w, side), area_taps(y, h, side));
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let mut rgb = Vec::with_capacity(side * side * 3);
    for row in &rows {
        for column in &columns {
            let mut sum = [0f32; 3];
            for &(sy, wy) in row {
                for &(sx, wx) in column {
                    if wx * wy == 0.0 || sx < 0 || sy < 0 || sx >= iw || sy >= ih {
                        continue;
                    }
                    let p = pixel(image, sx, sy);
                    sum.iter_mut().zip(p).for_each(|(s, v)| *s += v * wx * wy);
                }
            }
            rgb.extend_from_slice(&sum);
        }
    }
    Patch {
        width: side,
        height: side,
        rgb,
    }
}

/// OpenCV `warpAffine(image, m, (size, size))` with INTER_LINEAR and a black
/// border: `m` maps source to destination pixel coordinates.
pub fn warp_affine(image: &RgbImage, m: [f32; 6], size: usize) -> Patch {
    // Invert [a b c; d e f] to sample the source for each destination pixel.
    let [a, b, c, d, e, f] = m;
    let det = a * e - b * d;
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    let (ic, if_) = (-(ia * c + ib * f), -(id * c + ie * f));
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let sample = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            [0.0; 3]
        } else {
            pixel(image, x, y)
        }
    };
    let mut rgb = Vec::with_capacity(size * size * 3);
    for dy in 0..size {
        for dx in 0..size {
            let sx = ia * dx as f32 + ib * dy as f32 + ic;
            let sy = id * dx as f32 + ie * dy as f32 + if_;
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (wx, wy) = (sx - x0 as f32, sy - y0 as f32);
            let corners = [
                sample(x0, y0),
                sample(x0 + 1, y0),
                sample(x0, y0 + 1),
                sample(x0 + 1, y0 + 1),
            ];
            blend(&corners, wx, wy, &mut rgb);
        }
    }
    Patch {
        width: size,
        height: size,
        rgb,
    }
}

impl Patch {
    /// The patch mirrored left to right.
    pub fn flipped(&self) -> Patch {
        let mut rgb = Vec::with_capacity(self.rgb.len());
        for row in self.rgb.chunks(self.width * 3) {
            for pixel in row.chunks(3).rev() {
                rgb.extend_from_slice(pixel);
            }
        }
        Patch {
            width: self.width,
            height: self.height,
            rgb,
        }
    }

    /// A 1x3xHxW tensor with the planes in BGR order, each value mapped by
    /// `normalise(plane, value)`. The faceplugin networks were trained on
    /// OpenCV's BGR, whatever the package's own code says.
    pub fn bgr_tensor(&self, normalise: impl Fn(usize, f32) -> f32) -> Array4<f32> {
        self.planar_tensor(true, normalise)
    }

    /// A 1x3xHxW tensor with the planes in BGR order when `bgr`, else RGB,
    /// each value mapped by `normalise(plane, value)`.
    pub fn planar_tensor(&self, bgr: bool, normalise: impl Fn(usize, f32) -> f32) -> Array4<f32> {
        let plane = self.width * self.height;
        let mut data = vec![0f32; 3 * plane];
        for (i, pixel) in self.rgb.chunks(3).enumerate() {
            for (channel, value) in pixel.iter().enumerate() {
                let target = if bgr { 2 - channel } else { channel };
                data[target * plane + i] = normalise(target, *value);
            }
        }
        Array4::from_shape_vec((1, 3, self.height, self.width), data)
            .expect("the buffer matches the shape")
    }

    /// A 1x1xHxW tensor of grey values (OpenCV's BGR2GRAY weights), divided
    /// by `divisor`.
    pub fn grey_tensor(&self, divisor: f32) -> Array4<f32> {
        let data = self
            .rgb
            .chunks(3)
            .map(|p| (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) / divisor)
            .collect();
        Array4::from_shape_vec((1, 1, self.height, self.width), data)
            .expect("the buffer matches the shape")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 10) as u8, (y * 10) as u8, 100])
        })
    }

    #[test]
    fn resizing_to_the_same_size_copies_pixels() {
        let image = gradient(6, 4);
        let patch = resize_crop(
            &image,
            Rect {
                x: 0,
                y: 0,
                w: 6,
                h: 4,
            },
            6,
            4,
        );
        assert_eq!(&patch.rgb[..6], &[0.0, 0.0, 100.0, 10.0, 0.0, 100.0]);
    }

    #[test]
    fn halving_averages_pixel_pairs_like_opencv() {
        let image = gradient(4, 4);
        let patch = resize_crop(
            &image,
            Rect {
                x: 0,
                y: 0,
                w: 4,
                h: 4,
            },
            2,
            2,
        );
        // OpenCV samples at 0.5 and 2.5: (0+10)/2 and (20+30)/2.
        assert_eq!(patch.rgb[0], 5.0);
        assert_eq!(patch.rgb[3], 25.0);
    }

    #[test]
    fn the_identity_warp_copies_and_outside_is_black() {
        let image = gradient(5, 5);
        let same = warp_affine(&image, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 5);
        assert_eq!(same.rgb[3 * 7], 20.0); // pixel (2,1), red = 2*10
        let shifted = warp_affine(&image, [1.0, 0.0, 10.0, 0.0, 1.0, 0.0], 5);
        assert!(shifted.rgb.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn bgr_tensors_put_blue_first() {
        let patch = Patch {
            width: 1,
            height: 1,
            rgb: vec![1.0, 2.0, 3.0],
        };
        let bgr = patch.bgr_tensor(|_, v| v);
        assert_eq!(bgr.as_slice().unwrap(), &[3.0, 2.0, 1.0]);
        let flipped = Patch {
            width: 2,
            height: 1,
            rgb: vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
        }
        .flipped();
        assert_eq!(flipped.rgb, vec![2.0, 2.0, 2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn area_resizing_averages_the_pixels_each_output_covers_and_pads_black() {
        let image = gradient(4, 4);
        let half = area_resize(&image, [0.0, 0.0, 4.0, 4.0], 2);
        // Red is 10x: the first output pixel covers x 0 and 1 (0 and 10).
        assert_eq!(half.rgb[0], 5.0);
        assert_eq!(half.rgb[3], 25.0);
        // Half of the window lies left of the image: black there.
        let outside = area_resize(&image, [-4.0, 0.0, 8.0, 4.0], 2);
        assert_eq!(&outside.rgb[..3], &[0.0, 0.0, 0.0]);
        assert_eq!(outside.rgb[5], 100.0);
        let same = area_resize(&image, [0.0, 0.0, 4.0, 4.0], 4);
        assert_eq!(same.rgb[3 * 5], 10.0); // pixel (1,1)
    }

    #[test]
    fn crops_of_one_pixel_images_do_not_panic() {
        let rect = scaled_crop(1, 1, [0.0, 0.0, 1.0, 1.0], 2.7);
        assert_eq!((rect.w, rect.h), (1, 1));
        let patch = resize_crop(&RgbImage::new(1, 1), rect, 4, 4);
        assert_eq!(patch.rgb.len(), 48);
    }

    #[test]
    fn crops_near_the_border_shift_inside_the_image() {
        let rect = scaled_crop(100, 100, [0.0, 0.0, 40.0, 40.0], 2.0);
        assert_eq!((rect.x, rect.y, rect.w, rect.h), (0, 0, 80, 80));
        let rect = scaled_crop(100, 100, [30.0, 30.0, 70.0, 70.0], 2.7);
        assert!(rect.x >= 0 && rect.x + rect.w <= 100, "{rect:?}");
    }
}
