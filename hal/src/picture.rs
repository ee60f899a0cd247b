//! Frame pictures without an allocation per frame: when a frame is
//! dropped (processed, or replaced by a newer one before it was), its
//! picture's buffer goes back to a small pool, and the next picture of that
//! size is made in it. The pool is a fixed-capacity `heapless::Vec`, so
//! keeping spare buffers allocates nothing either; a buffer it has no room
//! for is freed.

use image::RgbImage;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Spare buffers kept: a camera's frames in flight are the one being made,
/// the one waiting in the hand-off and the one being analysed; this is
/// enough for a few cameras at once.
const SPARES: usize = 8;

/// Buffers of dropped pictures, for the next ones.
#[derive(Debug)]
pub struct PicturePool {
    spares: Mutex<heapless::Vec<Vec<u8>, SPARES>>,
}

/// The pool every camera's pictures come from and go back to.
pub static PICTURES: PicturePool = PicturePool::new();

impl PicturePool {
    pub const fn new() -> PicturePool {
        PicturePool {
            spares: Mutex::new(heapless::Vec::new()),
        }
    }

    /// A `width` x `height` picture, in a spare buffer when one is large
    /// enough. Its pixels are whatever the buffer held: the caller writes
    /// every one.
    pub fn picture(&'static self, width: u32, height: u32) -> Picture {
        let len = width as usize * height as usize * 3;
        let spare = {
            let mut spares = self.lock();
            let fitting = spares.iter().position(|buffer| buffer.capacity() >= len);
            fitting.map(|at| spares.swap_remove(at))
        };
        let mut buffer = spare.unwrap_or_default();
        // A no-op for a buffer of a picture of the same size.
        buffer.resize(len, 0);
        Picture {
            image: RgbImage::from_raw(width, height, buffer).expect("the buffer is the size"),
            pool: self,
        }
    }

    fn give_back(&self, buffer: Vec<u8>) {
        // A full pool frees the buffer.
        let _ = self.lock().push(buffer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, heapless::Vec<Vec<u8>, SPARES>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for PicturePool {
    fn default() -> Self {
        PicturePool::new()
    }
}

/// A frame's picture: an `RgbImage` whose buffer returns to its pool when
/// it is dropped.
#[derive(Debug)]
pub struct Picture {
    image: RgbImage,
    pool: &'static PicturePool,
}

impl Picture {
    /// The image, leaving the pool for good.
    pub fn into_image(mut self) -> RgbImage {
        std::mem::take(&mut self.image)
    }
}

/// A picture made elsewhere (a decoded JPEG) joins `PICTURES` when it is
/// dropped, for the next picture of its size.
impl From<RgbImage> for Picture {
    fn from(image: RgbImage) -> Picture {
        Picture {
            image,
            pool: &PICTURES,
        }
    }
}

impl Deref for Picture {
    type Target = RgbImage;

    fn deref(&self) -> &RgbImage {
        &self.image
    }
}

impl DerefMut for Picture {
    fn deref_mut(&mut self) -> &mut RgbImage {
        &mut self.image
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.image).into_raw();
        // `into_image` leaves an empty one, which is not worth keeping.
        if buffer.capacity() > 0 {
            self.pool.give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_pictures_buffer_makes_the_next_picture_of_its_size() {
        static POOL: PicturePool = PicturePool::new();
        let first = POOL.picture(64, 48);
        let buffer = first.as_ptr();
        drop(first);
        let next = POOL.picture(64, 48);
        assert_eq!(next.as_ptr(), buffer, "no new allocation");
        assert_eq!(next.dimensions(), (64, 48));
        // A smaller picture fits in a larger buffer, a larger one does not.
        drop(next);
        let smaller = POOL.picture(32, 24);
        assert_eq!((smaller.as_ptr(), smaller.len()), (buffer, 32 * 24 * 3));
        drop(smaller);
        let larger = POOL.picture(128, 96);
        assert_eq!(larger.len(), 128 * 96 * 3);
    }

    #[test]
    fn the_pool_keeps_a_fixed_number_of_spares_and_frees_the_rest() {
        static POOL: PicturePool = PicturePool::new();
        let pictures: Vec<Picture> = (0..SPARES + 3).map(|_| POOL.picture(8, 8)).collect();
        drop(pictures);
        assert_eq!(POOL.lock().len(), SPARES);
        let taken = POOL.picture(8, 8).into_image();
        assert_eq!(taken.dimensions(), (8, 8));
        assert_eq!(
            POOL.lock().len(),
            SPARES - 1,
            "an image taken out stays out"
        );
    }
}
