//! `facegate bench identify`: open-set 1:N identification on an LFW-style
//! folder, as a door meets it: most faces are nobody enrolled, so what
//! counts is FPIR (strangers matched to someone) at a tolerable FNIR
//! (members refused).
//!
//! The split, from a stable hash of each person's folder name (FNV-1a):
//! bit 0 puts the person in the tuning part or the report part, bit 1 on
//! the gallery side or the stranger side of that part. In each part:
//! - gallery-side people with two or more photos are members: their first
//!   photo is enrolled and every other photo is a mated probe;
//! - gallery-side people with one photo are enrolled as distractors;
//! - every photo of a stranger-side person is a stranger probe, searched
//!   against a gallery that never enrolled them.
//!
//! Thresholds and normalisation parameters are chosen on the tuning part
//! and applied, unchanged, to the report part.
//!
//! The ablation protocol enrols the first two photos of members with three
//! or more photos (one for members with two) and probes the photos after
//! the enrolled ones, so every row of its table searches the same probes;
//! single-template rows enrol only the first photo.

use super::open_set::{assign, fnir_at_fpir, rates_at, Part, Rates, Side};
use super::progress::Progress;
use super::svg::Canvas;
use super::{largest_face, people, quantile, read_image};
use crate::score::Scale;

/// The score normalisation of the identification benchmark, which runs on
/// float32 templates (`facegate bench identify` refuses int8).
fn confidence_of(cosine: f32) -> f64 {
    Scale::FP32.confidence_of(cosine)
}
use facegate_models::{AttributeSet, FaceEngine, Template};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// The two FPIR targets of the report.
const TARGETS: [f64; 2] = [0.01, 0.001];
/// The door's match threshold: every watchlist's default.
const DOOR_THRESHOLD: f32 = 40.0;
/// Each quality gate refuses this share of the tuning part's probes.
const GATE_REFUSES: f32 = 0.05;

/// One person's photos, as indices into the run's list of images, in
/// file-name order.
pub struct Person {
    pub name: String,
    pub images: Vec<usize>,
}

/// Who is enrolled and who is searched in one part.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    /// Each enrolled person's enrolment photos.
    pub entries: Vec<Vec<usize>>,
    /// Members' other photos, with the index of their entry.
    pub mated: Vec<(usize, usize)>,
    pub strangers: Vec<usize>,
}

/// The split of one part; members enrol up to `enrolment_photos` photos,
/// always keeping one to search.
pub fn split(people: &[Person], part: Part, enrolment_photos: usize) -> Split {
    let mut split = Split::default();
    for person in people.iter().filter(|p| !p.images.is_empty()) {
        let (own_part, side) = assign(&person.name);
        if own_part != part {
            continue;
        }
        let photos = &person.images;
        match side {
            Side::Stranger => split.strangers.extend(photos),
            Side::Gallery if photos.len() == 1 => split.entries.push(photos.clone()),
            Side::Gallery => {
                let enrolled = enrolment_photos.min(photos.len() - 1);
                let entry = split.entries.len();
                split.entries.push(photos[..enrolled].to_vec());
                split
                    .mated
                    .extend(photos[enrolled..].iter().map(|image| (*image, entry)));
            }
        }
    }
    split
}

/// What the engine measured on the largest face of one image.
pub struct Face {
    pub plain: Template,
    /// With the mirrored face's output added (`flip_templates`).
    pub flipped: Template,
    pub size: f32,
    pub sharpness: f32,
    pub brightness: f32,
    pub yaw: f32,
    pub pitch: f32,
}

impl Face {
    fn template(&self, flipped: bool) -> &Template {
        match flipped {
            true => &self.flipped,
            false => &self.plain,
        }
    }
}

const GATE_ATTRIBUTES: AttributeSet = AttributeSet {
    age: false,
    gender: false,
    pose: true,
    sharpness: true,
    brightness: true,
};

/// Measures one image; `flipping` is the engine with `flip_templates` on.
fn measure(
    plain: &FaceEngine,
    flipping: &FaceEngine,
    path: &Path,
    limits: facegate_models::DecodeLimits,
) -> Result<Option<Face>, String> {
    let image = read_image(path, limits)?;
    let Some(face) = largest_face(plain, &image)? else {
        return Ok(None);
    };
    let aligned = plain.align(&image, &face);
    let failed = |e: facegate_models::EngineError| format!("{}: {e}", path.display());
    let attributes = plain
        .attributes(&image, &face, &aligned, GATE_ATTRIBUTES)
        .map_err(failed)?;
    let pose = attributes.pose.expect("pose was asked for");
    Ok(Some(Face {
        plain: plain.template(&aligned).map_err(failed)?,
        flipped: flipping.template(&aligned).map_err(failed)?,
        size: face.detection.size(),
        sharpness: attributes.sharpness.expect("sharpness was asked for"),
        brightness: attributes.brightness.expect("brightness was asked for"),
        yaw: pose.yaw,
        pitch: pose.pitch,
    }))
}

/// How an entry with several enrolment templates scores a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// The first enrolment photo only.
    First,
    /// The highest cosine over the entry's templates.
    Best,
    /// The mean cosine.
    Mean,
    /// The cosine to the normalised mean template.
    Centroid,
}

/// One entry's enrolled templates, ready for `Fusion`.
fn references(templates: &[&Template], fusion: Fusion) -> Vec<Template> {
    match fusion {
        Fusion::First => templates.iter().take(1).map(|t| (*t).clone()).collect(),
        Fusion::Best | Fusion::Mean => templates.iter().map(|t| (*t).clone()).collect(),
        Fusion::Centroid if templates.is_empty() => Vec::new(),
        Fusion::Centroid => {
            let mut sum = vec![0f32; templates[0].vector.len()];
            for template in templates {
                sum.iter_mut()
                    .zip(&template.vector)
                    .for_each(|(s, v)| *s += v);
            }
            let length = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            let count = templates.len() as f32;
            let magnitude = templates.iter().map(|t| t.magnitude).sum::<f32>();
            let quality = templates.iter().map(|t| t.quality as f32).sum::<f32>();
            vec![Template {
                vector: sum.iter().map(|v| v / length).collect(),
                magnitude: magnitude / count,
                quality: (quality / count).round() as i32,
            }]
        }
    }
}

/// The probe's cosine to one entry; an entry none of whose photos had a
/// face matches nothing.
fn entry_cosine(probe: &Template, references: &[Template], fusion: Fusion) -> f32 {
    let cosines = references.iter().map(|r| probe.similarity(r));
    match fusion {
        Fusion::Mean if !references.is_empty() => cosines.sum::<f32>() / references.len() as f32,
        _ => cosines.fold(f32::NEG_INFINITY, f32::max),
    }
}

/// What a threshold is applied to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalisation {
    /// The best entry's score (0..100), as Search reports it.
    Score,
    /// The best cosine minus this weight times the second best.
    Margin(f32),
    /// The best cosine's z-score against the probe's cosines to the rest of
    /// the gallery.
    ZScore,
}

impl Normalisation {
    fn unit(self) -> String {
        match self {
            Normalisation::Score => "score".into(),
            Normalisation::Margin(weight) => format!("cos1 - {weight:.1} cos2"),
            Normalisation::ZScore => "z".into(),
        }
    }
}

/// The best entry of a probe's per-entry cosines and the value its
/// threshold is applied to; `None` for an empty gallery.
pub fn decide(cosines: &[f32], normalisation: Normalisation) -> Option<(usize, f32)> {
    let (best, top) =
        cosines
            .iter()
            .copied()
            .enumerate()
            .fold(None, |found: Option<(usize, f32)>, (i, c)| match found {
                Some((_, b)) if b >= c => found,
                _ => Some((i, c)),
            })?;
    let rest = || {
        cosines
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != best)
            .map(|(_, c)| *c)
    };
    let value = match normalisation {
        Normalisation::Score => confidence_of(top) as f32,
        Normalisation::Margin(weight) => {
            let second = rest().fold(f32::NEG_INFINITY, f32::max).max(-1.0);
            top - weight * second
        }
        Normalisation::ZScore => {
            let n = (cosines.len() - 1).max(1) as f32;
            let mean = rest().sum::<f32>() / n;
            let variance = rest().map(|c| (c - mean).powi(2)).sum::<f32>() / n;
            (top - mean) / variance.sqrt().max(1e-6)
        }
    };
    Some((best, value))
}

/// Which probes may decide: faces too small, blurred, dark, turned or with
/// a weak template are refused before the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    pub min_size: f32,
    pub min_sharpness: f32,
    pub min_brightness: f32,
    /// Degrees either way.
    pub max_yaw: f32,
    pub max_pitch: f32,
    pub min_quality: i32,
}

impl Gate {
    pub const OPEN: Gate = Gate {
        min_size: 0.0,
        min_sharpness: 0.0,
        min_brightness: 0.0,
        max_yaw: f32::INFINITY,
        max_pitch: f32::INFINITY,
        min_quality: 0,
    };

    /// The door's default face-size and pose limits (config/facegate.toml).
    const DOOR: Gate = Gate {
        min_size: 80.0,
        max_yaw: 30.0,
        max_pitch: 30.0,
        ..Gate::OPEN
    };

    pub fn admits(&self, face: &Face) -> bool {
        face.size >= self.min_size
            && face.sharpness >= self.min_sharpness
            && face.brightness >= self.min_brightness
            && face.yaw.abs() <= self.max_yaw
            && face.pitch.abs() <= self.max_pitch
            && face.plain.quality >= self.min_quality
    }
}

/// A decision rule to measure: how the gallery is enrolled, how a probe is
/// searched, which normalisations to tune over, which probes decide.
pub struct Technique {
    pub label: String,
    pub fusion: Fusion,
    pub flip_enrolment: bool,
    pub flip_probes: bool,
    /// Candidates; the one with the lowest FNIR on the tuning part wins.
    pub normalisations: Vec<Normalisation>,
    pub gate: Gate,
    /// The colour of its DET curve, if plotted.
    pub plotted: Option<&'static str>,
}

impl Technique {
    fn baseline(label: &str) -> Technique {
        Technique {
            label: label.into(),
            fusion: Fusion::First,
            flip_enrolment: false,
            flip_probes: false,
            normalisations: vec![Normalisation::Score],
            gate: Gate::OPEN,
            plotted: None,
        }
    }
}

/// Every probe's cosine to every entry of a part's gallery.
struct Searches {
    /// Per mated probe: its entry, and its cosines: `None` when the gate
    /// refused it, none at all when it had no face (it matches nobody).
    mated: Vec<(usize, Option<Vec<f32>>)>,
    strangers: Vec<Option<Vec<f32>>>,
    refused_mated: usize,
    refused_strangers: usize,
}

fn search(split: &Split, faces: &[Option<Face>], technique: &Technique) -> Searches {
    let gallery: Vec<Vec<Template>> = split
        .entries
        .iter()
        .map(|photos| {
            let templates: Vec<&Template> = photos
                .iter()
                .filter_map(|i| faces[*i].as_ref())
                .map(|face| face.template(technique.flip_enrolment))
                .collect();
            references(&templates, technique.fusion)
        })
        .collect();
    let cosines = |image: usize| {
        let Some(face) = faces[image].as_ref() else {
            return Some(Vec::new());
        };
        if !technique.gate.admits(face) {
            return None;
        }
        let probe = face.template(technique.flip_probes);
        Some(
            gallery
                .iter()
                .map(|r| entry_cosine(probe, r, technique.fusion))
                .collect::<Vec<f32>>(),
        )
    };
    let refused = |images: &mut dyn Iterator<Item = usize>| {
        images
            .filter(|i| {
                faces[*i]
                    .as_ref()
                    .is_some_and(|f| !technique.gate.admits(f))
            })
            .count()
    };
    Searches {
        mated: split
            .mated
            .iter()
            .map(|(image, entry)| (*entry, cosines(*image)))
            .collect(),
        strangers: split.strangers.iter().map(|i| cosines(*i)).collect(),
        refused_mated: refused(&mut split.mated.iter().map(|m| m.0)),
        refused_strangers: refused(&mut split.strangers.iter().copied()),
    }
}

impl Searches {
    /// (value, mated) for `tar_at_far`: a mated probe scores only when its
    /// best entry is its own; probes without a face score nothing. Probes
    /// the gate refused are left out.
    fn scored(&self, normalisation: Normalisation) -> Vec<(f32, bool)> {
        let mated = self.mated.iter().filter_map(|(entry, cosines)| {
            let cosines = cosines.as_ref()?;
            let value = match decide(cosines, normalisation) {
                Some((best, value)) if best == *entry => value,
                _ => f32::NEG_INFINITY,
            };
            Some((value, true))
        });
        let strangers = self.strangers.iter().filter_map(|cosines| {
            let value = decide(cosines.as_ref()?, normalisation).map_or(f32::NEG_INFINITY, |d| d.1);
            Some((value, false))
        });
        mated.chain(strangers).collect()
    }

    fn refused_share(&self) -> (f64, f64) {
        (
            self.refused_mated as f64 / self.mated.len().max(1) as f64,
            self.refused_strangers as f64 / self.strangers.len().max(1) as f64,
        )
    }
}

/// The DET curve: (FPIR, FNIR) at every stranger value as threshold.
fn det(scored: &[(f32, bool)]) -> Vec<(f64, f64)> {
    let mut strangers: Vec<f32> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    strangers.sort_by(|a, b| b.total_cmp(a));
    strangers.dedup();
    strangers
        .iter()
        .map(|t| rates_at(scored, *t))
        .map(|r| (r.fpir, r.fnir))
        .collect()
}

/// Rates averaged over every gallery of `size` entries drawn from a
/// part's gallery (a mated probe's own entry always in it), computed
/// exactly: a stranger is matched unless all `size` drawn entries score
/// under the threshold; a mated probe is found if its own entry reaches
/// the threshold and none of the other `size - 1` drawn entries beats it.
fn drawn_gallery_rates(searches: &Searches, size: usize, threshold: f32) -> Rates {
    // The chance that `draws` entries drawn without replacement from
    // `pool` all avoid `marked` of them.
    let all_avoid = |pool: usize, marked: usize, draws: usize| -> f64 {
        (0..draws)
            .map(|i| (pool.saturating_sub(marked + i)) as f64 / (pool - i) as f64)
            .product()
    };
    let score = |c: &f32| confidence_of(*c) as f32;
    let matched: f64 = searches
        .strangers
        .iter()
        .flatten()
        .filter(|cosines| !cosines.is_empty())
        .map(|cosines| {
            let above = cosines.iter().filter(|c| score(c) >= threshold).count();
            1.0 - all_avoid(cosines.len(), above, size)
        })
        .sum();
    let found: f64 = searches
        .mated
        .iter()
        .filter_map(|(entry, cosines)| Some((cosines.as_ref()?, *entry)))
        .filter(|(cosines, entry)| cosines.get(*entry).is_some_and(|c| score(c) >= threshold))
        .map(|(cosines, entry)| {
            let beating = cosines.iter().filter(|c| **c > cosines[entry]).count();
            all_avoid(cosines.len() - 1, beating, size - 1)
        })
        .sum();
    Rates {
        fpir: matched / searches.strangers.len().max(1) as f64,
        fnir: 1.0 - found / searches.mated.len().max(1) as f64,
    }
}

/// The lowest score threshold (to 0.01) whose drawn-gallery FPIR is at
/// most `fpir`, and the rates there.
fn drawn_gallery_threshold(searches: &Searches, size: usize, fpir: f64) -> (f32, Rates) {
    let (mut low, mut high) = (0u32, 10_000u32);
    while low < high {
        let middle = (low + high) / 2;
        match drawn_gallery_rates(searches, size, middle as f32 / 100.0).fpir <= fpir {
            true => high = middle,
            false => low = middle + 1,
        }
    }
    let threshold = low as f32 / 100.0;
    (threshold, drawn_gallery_rates(searches, size, threshold))
}

/// The score threshold at which a stranger matches one of `size` entries
/// with probability `fpir`, if the calibration's pair FAR 10^(-score/10)
/// holds and pairs are independent.
pub fn model_threshold(size: usize, fpir: f64) -> f32 {
    let pair_far = 1.0 - (1.0 - fpir).powf(1.0 / size as f64);
    (-10.0 * pair_far.log10()) as f32
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", 100.0 * rate)
}

/// One technique tuned on the tuning part and applied to the report part,
/// at one FPIR target.
struct Tuned {
    normalisation: Normalisation,
    threshold: f32,
    report: Rates,
    /// FNIR on the report part at its own threshold for the target.
    report_own_fnir: f64,
}

fn tune(tuning: &Searches, report: &Searches, technique: &Technique, target: f64) -> Tuned {
    let (normalisation, threshold) = technique
        .normalisations
        .iter()
        .map(|n| (*n, fnir_at_fpir(&tuning.scored(*n), target)))
        .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
        .map(|(n, (_, threshold))| (n, threshold))
        .expect("a technique has a normalisation");
    let scored = report.scored(normalisation);
    Tuned {
        normalisation,
        threshold,
        report: rates_at(&scored, threshold),
        report_own_fnir: fnir_at_fpir(&scored, target).0,
    }
}

/// Each gate criterion alone, refusing `GATE_REFUSES` of the tuning part's
/// probes with a face, then all of them together.
fn gates(tuning: &Split, faces: &[Option<Face>]) -> Vec<(String, Gate)> {
    let probes: Vec<&Face> = tuning
        .mated
        .iter()
        .map(|m| m.0)
        .chain(tuning.strangers.iter().copied())
        .filter_map(|i| faces[i].as_ref())
        .collect();
    let low = |measure: fn(&Face) -> f32| {
        quantile(probes.iter().map(|f| measure(f)).collect(), GATE_REFUSES)
    };
    let high = |measure: fn(&Face) -> f32| {
        quantile(
            probes.iter().map(|f| measure(f)).collect(),
            1.0 - GATE_REFUSES,
        )
    };
    let size = Gate {
        min_size: low(|f| f.size),
        ..Gate::OPEN
    };
    let sharpness = Gate {
        min_sharpness: low(|f| f.sharpness),
        ..Gate::OPEN
    };
    let brightness = Gate {
        min_brightness: low(|f| f.brightness),
        ..Gate::OPEN
    };
    let pose = Gate {
        max_yaw: high(|f| f.yaw.abs()),
        max_pitch: high(|f| f.pitch.abs()),
        ..Gate::OPEN
    };
    let quality = Gate {
        min_quality: low(|f| f.plain.quality as f32) as i32,
        ..Gate::OPEN
    };
    let all = Gate {
        min_size: size.min_size,
        min_sharpness: sharpness.min_sharpness,
        min_brightness: brightness.min_brightness,
        max_yaw: pose.max_yaw,
        max_pitch: pose.max_pitch,
        min_quality: quality.min_quality,
    };
    vec![
        (format!("gate: face >= {:.0} px", size.min_size), size),
        (
            format!("gate: sharpness >= {:.2}", sharpness.min_sharpness),
            sharpness,
        ),
        (
            format!("gate: brightness >= {:.2}", brightness.min_brightness),
            brightness,
        ),
        (
            format!(
                "gate: abs yaw <= {:.0}, abs pitch <= {:.0} deg",
                pose.max_yaw, pose.max_pitch
            ),
            pose,
        ),
        (
            format!("gate: template quality >= {}", quality.min_quality),
            quality,
        ),
        ("gate: all of the above".into(), all),
    ]
}

/// The ablation's rows, in table order.
fn techniques(gates: Vec<(String, Gate)>) -> Vec<Technique> {
    let fused = |label: &str, fusion| Technique {
        fusion,
        ..Technique::baseline(label)
    };
    let normalised = |label: &str, normalisations| Technique {
        normalisations,
        ..Technique::baseline(label)
    };
    let all_gates = gates.last().expect("gates end with all of them").1;
    let mut rows = vec![
        Technique {
            plotted: Some("#888"),
            ..Technique::baseline("baseline: one photo enrolled, best score")
        },
        Technique {
            plotted: Some("#1565c0"),
            ..fused("two photos enrolled, best of", Fusion::Best)
        },
        fused("two photos enrolled, mean score", Fusion::Mean),
        fused("two photos enrolled, centroid template", Fusion::Centroid),
        Technique {
            flip_enrolment: true,
            ..Technique::baseline("flip-averaged enrolment templates")
        },
        Technique {
            flip_enrolment: true,
            flip_probes: true,
            ..Technique::baseline("flip-averaged enrolment and probe templates")
        },
        normalised(
            "margin: cos1 - w cos2, w tuned",
            (1..=10)
                .map(|w| Normalisation::Margin(w as f32 / 10.0))
                .collect(),
        ),
        Technique {
            plotted: Some("#2e7d32"),
            ..normalised("z-score against the gallery", vec![Normalisation::ZScore])
        },
    ];
    let last = gates.len() - 1;
    rows.extend(
        gates
            .into_iter()
            .enumerate()
            .map(|(i, (label, gate))| Technique {
                gate,
                plotted: (i == last).then_some("#6a1b9a"),
                ..Technique::baseline(&label)
            }),
    );
    rows.extend([
        Technique {
            normalisations: vec![Normalisation::ZScore],
            ..fused("two photos best of + z-score", Fusion::Best)
        },
        Technique {
            gate: all_gates,
            ..fused("two photos best of + all gates", Fusion::Best)
        },
    ]);
    rows
}

/// One line of the DET plot: (FPIR, FNIR) points.
struct Curve {
    label: String,
    colour: &'static str,
    points: Vec<(f64, f64)>,
}

/// A DET plot, FNIR against FPIR, both on log axes from 1e-3 to 1.
fn plot(curves: &[Curve]) -> String {
    let mut canvas = Canvas::new(560.0, 440.0, 60.0);
    let x = |c: &Canvas, fpir: f64| c.x((fpir.max(1e-3).log10() + 3.0) / 3.0);
    let y = |c: &Canvas, fnir: f64| c.y(-fnir.max(1e-3).log10() / 3.0);
    let (bottom, left) = (canvas.height() - canvas.margin(), canvas.margin());
    for (exponent, label) in [(0, "1"), (-1, "0.1"), (-2, "0.01"), (-3, "0.001")] {
        let at = 10f64.powi(exponent);
        let (ax, ay) = (x(&canvas, at), y(&canvas, at));
        canvas.text(ax, bottom + 16.0, "middle", "black", label);
        canvas.text(left - 4.0, ay + 4.0, "end", "black", label);
    }
    for (i, curve) in curves.iter().enumerate() {
        let (label, colour) = (&curve.label, curve.colour);
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|(fpir, fnir)| (x(&canvas, *fpir), y(&canvas, *fnir)))
            .collect();
        canvas.polyline(&points, colour);
        let right = canvas.width() - canvas.margin() - 8.0;
        let top = canvas.margin() + 18.0 * (i + 1) as f64;
        canvas.text(right, top, "end", colour, label);
    }
    let (middle, label_y) = (canvas.width() / 2.0, canvas.height() - 14.0);
    canvas.text(
        middle,
        label_y,
        "middle",
        "black",
        "FPIR: strangers matched to someone",
    );
    canvas.text(
        left,
        30.0,
        "start",
        "black",
        "FNIR: members not found (log scales)",
    );
    canvas.finish()
}

fn describe(name: &str, split: &Split, faces: &[Option<Face>]) -> String {
    let members: BTreeSet<usize> = split.mated.iter().map(|m| m.1).collect();
    let faceless =
        |images: &mut dyn Iterator<Item = usize>| images.filter(|i| faces[*i].is_none()).count();
    format!(
        "{name} part: gallery of {} ({} members, {} distractors), {} mated probes, \
         {} stranger probes; without a face: {} enrolment photos, {} mated, {} strangers",
        split.entries.len(),
        members.len(),
        split.entries.len() - members.len(),
        split.mated.len(),
        split.strangers.len(),
        faceless(&mut split.entries.iter().flatten().copied()),
        faceless(&mut split.mated.iter().map(|m| m.0)),
        faceless(&mut split.strangers.iter().copied()),
    )
}

/// Runs the benchmark; `flipping` is the engine loaded with
/// `flip_templates`, for the flip-averaged templates.
pub fn run(
    plain: &FaceEngine,
    flipping: &FaceEngine,
    images: &Path,
    limits: facegate_models::DecodeLimits,
    plot_path: Option<&Path>,
) -> Result<String, String> {
    let folders = people(images)?;
    let mut paths = Vec::new();
    let mut everyone = Vec::new();
    for photos in folders {
        let Some(name) = photos
            .first()
            .and_then(|p| p.parent()?.file_name()?.to_str())
        else {
            continue;
        };
        everyone.push(Person {
            name: name.to_string(),
            images: (paths.len()..paths.len() + photos.len()).collect(),
        });
        paths.extend(photos);
    }
    let progress = Progress::new("faces", paths.len());
    let mut faces = Vec::with_capacity(paths.len());
    for (done, path) in paths.iter().enumerate() {
        faces.push(measure(plain, flipping, path, limits)?);
        progress.set(done + 1);
    }
    let mut out = String::new();

    // The brief's protocol: one enrolment photo per member.
    let (tuning, report) = (
        split(&everyone, Part::Tuning, 1),
        split(&everyone, Part::Report, 1),
    );
    let _ = writeln!(out, "{}", describe("tuning", &tuning, &faces));
    let _ = writeln!(out, "{}", describe("report", &report, &faces));
    let baseline = Technique::baseline("baseline");
    let searches = search(&report, &faces, &baseline);
    let scored = searches.scored(Normalisation::Score);
    let found_first = searches
        .mated
        .iter()
        .filter(|(entry, cosines)| {
            cosines
                .as_ref()
                .and_then(|c| decide(c, Normalisation::Score))
                .is_some_and(|(best, _)| best == *entry)
        })
        .count();
    let _ = writeln!(
        out,
        "rank-1 identification rate: {}",
        percent(found_first as f64 / report.mated.len().max(1) as f64)
    );
    let at_door = rates_at(&scored, DOOR_THRESHOLD);
    let _ = writeln!(
        out,
        "score threshold 40 (the door's default: each watchlist's threshold): FPIR {}, FNIR {}",
        percent(at_door.fpir),
        percent(at_door.fnir)
    );
    let door = Technique {
        gate: Gate::DOOR,
        ..Technique::baseline("door")
    };
    let door_searches = search(&report, &faces, &door);
    let gated = rates_at(&door_searches.scored(Normalisation::Score), DOOR_THRESHOLD);
    let (refused_mated, refused_strangers) = door_searches.refused_share();
    let _ = writeln!(
        out,
        "door defaults with their face gate (score 40, face >= 80 px, abs yaw and pitch <= 30 deg): \
         refused {} of mated and {} of stranger probes; among the rest FPIR {}, FNIR {}",
        percent(refused_mated),
        percent(refused_strangers),
        percent(gated.fpir),
        percent(gated.fnir)
    );
    for target in TARGETS {
        let (fnir, threshold) = fnir_at_fpir(&scored, target);
        let _ = writeln!(
            out,
            "FNIR at FPIR {}: {} (score threshold {threshold:.2}, chosen on the report part)",
            percent(target),
            percent(fnir)
        );
    }
    let mut curves = vec![Curve {
        label: "baseline, all probes".into(),
        colour: "#c62828",
        points: det(&scored),
    }];

    // The ablation, on its own protocol: two enrolment photos where there
    // are three or more.
    let (tuning, report) = (
        split(&everyone, Part::Tuning, 2),
        split(&everyone, Part::Report, 2),
    );
    let _ = writeln!(
        out,
        "\nablation protocol (members with 3+ photos: photos 1-2 enrollable, probes from photo 3)"
    );
    let _ = writeln!(out, "{}", describe("tuning", &tuning, &faces));
    let _ = writeln!(out, "{}", describe("report", &report, &faces));
    let _ = writeln!(
        out,
        "\nthresholds and parameters chosen on the tuning part; FPIR and FNIR measured on the \
         report part; FPIR 0.1 % allows {} of the tuning part's {} strangers to match\n\n\
         | technique | refused (mated / strangers) | threshold for FPIR 1 % | FPIR | FNIR | FNIR at own 1 % | threshold for FPIR 0.1 % | FPIR | FNIR | FNIR at own 0.1 % |\n\
         |---|---|---|---|---|---|---|---|---|---|",
        (TARGETS[1] * tuning.strangers.len() as f64).floor(),
        tuning.strangers.len()
    );
    for technique in techniques(gates(&tuning, &faces)) {
        let (tuned_on, reported_on) = (
            search(&tuning, &faces, &technique),
            search(&report, &faces, &technique),
        );
        let (refused_mated, refused_strangers) = reported_on.refused_share();
        let mut row = format!(
            "| {} | {} / {} |",
            technique.label,
            percent(refused_mated),
            percent(refused_strangers)
        );
        for target in TARGETS {
            let tuned = tune(&tuned_on, &reported_on, &technique, target);
            let _ = write!(
                row,
                " {:.3} ({}) | {} | {} | {} |",
                tuned.threshold,
                tuned.normalisation.unit(),
                percent(tuned.report.fpir),
                percent(tuned.report.fnir),
                percent(tuned.report_own_fnir)
            );
        }
        let _ = writeln!(out, "{row}");
        if let Some(colour) = technique.plotted {
            curves.push(Curve {
                label: format!("{} (ablation probes)", technique.label),
                colour,
                points: det(&reported_on.scored(technique.normalisations[0])),
            });
        }
    }

    // Gallery size, on the brief's protocol's report part.
    let pool = report.entries.len();
    let _ = writeln!(
        out,
        "\ngallery size (report part, one photo enrolled, baseline score; rates averaged \
         exactly over every gallery of that size drawn from the part's {pool} entries; \
         model: the threshold whose calibrated pair FAR 10^(-s/10) gives that FPIR over the \
         gallery; beyond {pool} the FNIR is at the model threshold on {pool} entries, a lower bound)\n\n\
         | gallery | FPIR at 40 | FNIR at 40 | threshold for FPIR 1 % (model) | FNIR | \
         threshold for FPIR 0.33 % (model) | FNIR | threshold for FPIR 0.1 % (model) | FNIR |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for size in [10, 100, pool, 1_000, 10_000] {
        let measured = size <= pool;
        let at_door = drawn_gallery_rates(&searches, size.min(pool), DOOR_THRESHOLD);
        let mut row = match measured {
            true => format!(
                "| {size} | {} | {} |",
                percent(at_door.fpir),
                percent(at_door.fnir)
            ),
            false => format!("| {size} | not measurable | >= {} |", percent(at_door.fnir)),
        };
        for target in [0.01, 1.0 / 300.0, 0.001] {
            let model = model_threshold(size, target);
            let _ = match measured {
                true => {
                    let (threshold, rates) = drawn_gallery_threshold(&searches, size, target);
                    write!(
                        row,
                        " {threshold:.1} ({model:.1}) | {} |",
                        percent(rates.fnir)
                    )
                }
                false => {
                    let rates = drawn_gallery_rates(&searches, pool, model);
                    write!(row, " - ({model:.1}) | >= {} |", percent(rates.fnir))
                }
            };
        }
        let _ = writeln!(out, "{row}");
    }
    if let Some(path) = plot_path {
        std::fs::write(path, plot(&curves)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(values: &[f32]) -> Template {
        let length = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        Template {
            vector: values.iter().map(|v| v / length).collect(),
            magnitude: 3.0,
            quality: 50,
        }
    }

    /// People with 1 to 4 photos under many names, so every part and side
    /// is populated.
    fn crowd() -> Vec<Person> {
        let mut next = 0;
        (0..200)
            .map(|i| {
                let count = 1 + i % 4;
                let images = (next..next + count).collect();
                next += count;
                Person {
                    name: format!("Person_{i}"),
                    images,
                }
            })
            .collect()
    }

    #[test]
    fn parts_are_disjoint_and_strangers_are_never_enrolled() {
        let people = crowd();
        let (tuning, report) = (
            split(&people, Part::Tuning, 1),
            split(&people, Part::Report, 1),
        );
        let images = |s: &Split| -> BTreeSet<usize> {
            s.entries
                .iter()
                .flatten()
                .copied()
                .chain(s.mated.iter().map(|m| m.0))
                .chain(s.strangers.iter().copied())
                .collect()
        };
        assert!(images(&tuning).is_disjoint(&images(&report)));
        // Every image is used once, in one part.
        let all = images(&tuning).len() + images(&report).len();
        assert_eq!(all, people.iter().map(|p| p.images.len()).sum::<usize>());
        for part in [&tuning, &report] {
            assert!(!part.strangers.is_empty() && !part.mated.is_empty());
            let enrolled: BTreeSet<usize> = part.entries.iter().flatten().copied().collect();
            assert!(part.strangers.iter().all(|s| !enrolled.contains(s)));
        }
        // The same people each time: the split is deterministic.
        assert_eq!(split(&people, Part::Report, 1), report);
    }

    #[test]
    fn members_enrol_their_first_photos_and_search_the_rest() {
        let person = |name: &str, images: Vec<usize>| Person {
            name: name.into(),
            images,
        };
        // Find names that land on the gallery side of the report part.
        let gallery_names: Vec<String> = (0..100)
            .map(|i| format!("P{i}"))
            .filter(|n| assign(n) == (Part::Report, Side::Gallery))
            .take(3)
            .collect();
        let people = vec![
            person(&gallery_names[0], vec![0]),
            person(&gallery_names[1], vec![1, 2]),
            person(&gallery_names[2], vec![3, 4, 5, 6]),
        ];
        let one = split(&people, Part::Report, 1);
        assert_eq!(one.entries, vec![vec![0], vec![1], vec![3]]);
        assert_eq!(one.mated, vec![(2, 1), (4, 2), (5, 2), (6, 2)]);
        let two = split(&people, Part::Report, 2);
        assert_eq!(two.entries, vec![vec![0], vec![1], vec![3, 4]]);
        assert_eq!(two.mated, vec![(2, 1), (5, 2), (6, 2)]);
        assert!(split(&people, Part::Tuning, 1).entries.is_empty());
    }

    #[test]
    fn fusion_combines_an_entrys_templates() {
        let enrolled = [unit(&[1.0, 0.0]), unit(&[0.0, 1.0])];
        let refs: Vec<&Template> = enrolled.iter().collect();
        let probe = unit(&[1.0, 0.0]);
        let cosine = |fusion| entry_cosine(&probe, &references(&refs, fusion), fusion);
        assert_eq!(cosine(Fusion::First), 1.0);
        assert_eq!(cosine(Fusion::Best), 1.0);
        assert_eq!(cosine(Fusion::Mean), 0.5);
        assert!((cosine(Fusion::Centroid) - 0.5f32.sqrt()).abs() < 1e-6);
        // No enrolled face: nothing matches the entry.
        assert_eq!(entry_cosine(&probe, &[], Fusion::Mean), f32::NEG_INFINITY);
    }

    #[test]
    fn normalisations_judge_the_best_against_the_rest() {
        let cosines = [0.2, 0.6, 0.4, 0.0];
        let (best, score) = decide(&cosines, Normalisation::Score).unwrap();
        assert_eq!(best, 1);
        assert_eq!(score, confidence_of(0.6) as f32);
        let (_, margin) = decide(&cosines, Normalisation::Margin(0.5)).unwrap();
        assert!((margin - (0.6 - 0.5 * 0.4)).abs() < 1e-6);
        // The rest: 0.2, 0.4, 0.0; mean 0.2, std sqrt(0.08/3).
        let (_, z) = decide(&cosines, Normalisation::ZScore).unwrap();
        assert!((z - 0.4 / (0.08f32 / 3.0).sqrt()).abs() < 1e-4, "{z}");
        assert_eq!(decide(&[], Normalisation::Score), None);
    }

    #[test]
    fn fpir_counts_strangers_and_fnir_counts_members_not_found() {
        // Four strangers, four members of which one was ranked wrong.
        let scored = [
            (10.0, false),
            (30.0, false),
            (45.0, false),
            (60.0, false),
            (50.0, true),
            (70.0, true),
            (35.0, true),
            (f32::NEG_INFINITY, true),
        ];
        assert_eq!(
            rates_at(&scored, 40.0),
            Rates {
                fpir: 0.5,
                fnir: 0.5
            }
        );
        // FPIR 25 %: only the top stranger (60) may pass.
        let (fnir, threshold) = fnir_at_fpir(&scored, 0.25);
        assert!(threshold > 45.0 && threshold <= 60.0, "{threshold}");
        assert_eq!(fnir, 0.5);
        assert_eq!(det(&scored).first(), Some(&(0.25, 0.75)));
    }

    fn searches() -> Searches {
        // Three entries; cosine 0.6 scores about 70, 0.2 about 18.
        Searches {
            mated: vec![
                (0, Some(vec![0.6, 0.2, 0.2])),
                (1, Some(vec![0.7, 0.6, 0.2])),
                (2, Some(Vec::new())),
            ],
            strangers: vec![Some(vec![0.6, 0.2, 0.2]), Some(vec![0.2, 0.2, 0.2])],
            refused_mated: 0,
            refused_strangers: 0,
        }
    }

    #[test]
    fn drawn_galleries_of_the_whole_pool_give_the_direct_rates() {
        let searches = searches();
        let direct = rates_at(&searches.scored(Normalisation::Score), 40.0);
        assert_eq!(drawn_gallery_rates(&searches, 3, 40.0), direct);
        assert_eq!(direct.fpir, 0.5);
        assert!((direct.fnir - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn smaller_drawn_galleries_match_strangers_and_hide_members_less_often() {
        let searches = searches();
        let rates = drawn_gallery_rates(&searches, 2, 40.0);
        // The first stranger meets its look-alike (entry 0) in 2 of the 3
        // galleries of two; the second member is beaten by entry 0 in 1 of
        // the 2 galleries holding it.
        assert!((rates.fpir - 1.0 / 3.0).abs() < 1e-9, "{rates:?}");
        assert!((rates.fnir - (1.0 - 1.5 / 3.0)).abs() < 1e-9, "{rates:?}");
        let (threshold, at) = drawn_gallery_threshold(&searches, 2, 0.0);
        assert_eq!(at.fpir, 0.0);
        assert!(threshold > confidence_of(0.6) as f32 - 0.01);
    }

    #[test]
    fn the_model_threshold_is_the_calibrated_pair_far_over_the_gallery() {
        // One stranger in 1000 matching one of 1000 entries: pair FAR 1e-6.
        assert!((model_threshold(1000, 0.001) - 60.0).abs() < 0.01);
        assert!((model_threshold(1, 0.01) - 20.0).abs() < 0.01);
    }

    #[test]
    fn gates_refuse_small_blurred_dark_and_turned_faces() {
        let face = Face {
            plain: unit(&[1.0, 0.0]),
            flipped: unit(&[1.0, 0.0]),
            size: 60.0,
            sharpness: 0.5,
            brightness: 0.4,
            yaw: -20.0,
            pitch: 5.0,
        };
        assert!(Gate::OPEN.admits(&face));
        assert!(!Gate::DOOR.admits(&face), "60 px is under the door's 80");
        let turned = Gate {
            max_yaw: 15.0,
            ..Gate::OPEN
        };
        assert!(!turned.admits(&face));
        let dark = Gate {
            min_brightness: 0.5,
            ..Gate::OPEN
        };
        assert!(!dark.admits(&face));
    }
}
