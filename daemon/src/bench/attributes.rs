//! `facegate bench attributes`: how steady the attribute estimates are on
//! photos without attribute labels. An estimate should not change when the
//! photo is mirrored (yaw and roll should change sign), and a person's
//! gender should not change from photo to photo. Over an LFW-style folder
//! (`NAME/NAME_0001.jpg`), it reports per attribute:
//! - mirror disagreement: median |a(photo) - a(mirror)| (|a + a'| for yaw
//!   and roll);
//! - the share of photos the liveness network calls live (score >= 50);
//!   these are genuine photos, so ideally all;
//! - for gender, the share of people with two or more photos whose photos
//!   all fall on the same side of 0.5, and for age the median per-person
//!   standard deviation.

use super::progress::Progress;
use super::{largest_face, people, quantile, read_image};
use facegate_models::image::imageops;
use facegate_models::{AttributeSet, Attributes, FaceEngine, RgbImage};
use std::path::Path;

fn median(values: Vec<f32>) -> f32 {
    quantile(values, 0.5)
}

/// The attributes and liveness score of the largest face, if any.
fn attributes_of(
    engine: &FaceEngine,
    image: &RgbImage,
) -> Result<Option<(Attributes, f32)>, String> {
    let Some(face) = largest_face(engine, image)? else {
        return Ok(None);
    };
    let aligned = engine.align(image, &face);
    let attributes = engine
        .attributes(image, &face, &aligned, AttributeSet::ALL)
        .map_err(|e| e.to_string())?;
    let liveness = engine.liveness(image, &face).map_err(|e| e.to_string())?;
    Ok(Some((attributes, liveness.score)))
}

pub fn run(
    engine: &FaceEngine,
    images: &Path,
    limit: usize,
    limits: facegate_models::DecodeLimits,
) -> Result<String, String> {
    let mut people = people(images)?;
    people.truncate(limit);
    let total: usize = people.iter().map(Vec::len).sum();
    let progress = Progress::new("attributes", total);
    let mut done = 0;
    let (mut yaw, mut roll, mut pitch, mut age, mut gender) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut live = 0;
    let (mut consistent_gender, mut people_with_several, mut age_spread) = (0, 0, vec![]);
    for photos in &people {
        let mut own = Vec::new();
        for path in photos {
            let image = read_image(path, limits)?;
            let mirror = imageops::flip_horizontal(&image);
            if let (Some((a, liveness)), Some((m, _))) = (
                attributes_of(engine, &image)?,
                attributes_of(engine, &mirror)?,
            ) {
                live += usize::from(liveness >= 50.0);
                let (p, q) = (a.pose.unwrap(), m.pose.unwrap());
                yaw.push((p.yaw + q.yaw).abs());
                roll.push((p.roll + q.roll).abs());
                pitch.push((p.pitch - q.pitch).abs());
                age.push((a.age.unwrap() - m.age.unwrap()).abs());
                gender.push((a.gender.unwrap() - m.gender.unwrap()).abs());
                own.push(a);
            }
            done += 1;
            progress.set(done);
        }
        if own.len() >= 2 {
            people_with_several += 1;
            let male = own.iter().filter(|a| a.gender.unwrap() > 0.5).count();
            if male == 0 || male == own.len() {
                consistent_gender += 1;
            }
            let ages: Vec<f32> = own.iter().map(|a| a.age.unwrap()).collect();
            let mean = ages.iter().sum::<f32>() / ages.len() as f32;
            let variance = ages.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / ages.len() as f32;
            age_spread.push(variance.sqrt());
        }
    }
    let photos = yaw.len();
    Ok(format!(
        "attributes over {} photos of {} people ({} with 2+ photos)\n\
         mirror disagreement, median: yaw {:.1} deg, roll {:.1} deg, pitch {:.1} deg, age {:.1} years, gender {:.3}\n\
         called live at score 50: {:.1} % of photos\n\
         gender the same on all of a person's photos: {:.1} % of people\n\
         age spread within a person, median std: {:.1} years",
        photos,
        people.len(),
        people_with_several,
        median(yaw),
        median(roll),
        median(pitch),
        median(age),
        median(gender),
        100.0 * live as f32 / photos.max(1) as f32,
        100.0 * consistent_gender as f32 / people_with_several.max(1) as f32,
        median(age_spread),
    ))
}
