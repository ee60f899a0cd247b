//! The LFW verification protocol, free of the engine so the REST accuracy
//! benchmark (`daemon/benches/lfw_api.rs`) shares it: the pairs file, the
//! cross-validated threshold, and TAR at a FAR.

/// One line of `pairs.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub first: (String, u32),
    pub second: (String, u32),
    pub same: bool,
    pub fold: usize,
}

/// Parses the standard LFW `pairs.txt`: a `folds<TAB>n` header, then per
/// fold n matched (`name i j`) and n mismatched (`name i name j`) pairs.
pub fn parse_pairs(text: &str) -> Result<Vec<Pair>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<usize> = lines
        .next()
        .ok_or("pairs file is empty")?
        .split_whitespace()
        .map(|v| v.parse().map_err(|_| format!("bad header value `{v}`")))
        .collect::<Result<_, _>>()?;
    let [folds, per_fold] = header[..] else {
        return Err("the header must be `folds<TAB>pairs-per-fold`".into());
    };
    let number = |v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("bad image number `{v}`"))
    };
    let mut pairs = Vec::with_capacity(folds * per_fold * 2);
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (first, second, same) = match fields[..] {
            [name, a, b] => ((name, number(a)?), (name, number(b)?), true),
            [name_a, a, name_b, b] => ((name_a, number(a)?), (name_b, number(b)?), false),
            _ => return Err(format!("line {}: expected 3 or 4 fields: {line}", i + 2)),
        };
        pairs.push(Pair {
            first: (first.0.to_string(), first.1),
            second: (second.0.to_string(), second.1),
            same,
            fold: i / (2 * per_fold),
        });
    }
    if pairs.len() != folds * per_fold * 2 {
        return Err(format!(
            "expected {} pairs, found {}",
            folds * per_fold * 2,
            pairs.len()
        ));
    }
    Ok(pairs)
}

/// The fraction of (score, same) pairs a threshold classifies correctly.
fn accuracy(scored: &[(f32, bool)], threshold: f32) -> f64 {
    let correct = scored
        .iter()
        .filter(|(score, same)| (*score >= threshold) == *same)
        .count();
    correct as f64 / scored.len() as f64
}

/// The threshold most accurate on `scored`: tried at every midpoint between
/// consecutive scores.
fn best_threshold(scored: &[(f32, bool)]) -> f32 {
    let mut scores: Vec<f32> = scored.iter().map(|(s, _)| *s).collect();
    scores.sort_by(f32::total_cmp);
    let candidates = scores.windows(2).map(|w| (w[0] + w[1]) / 2.0);
    candidates
        .max_by(|a, b| accuracy(scored, *a).total_cmp(&accuracy(scored, *b)))
        .unwrap_or(0.0)
}

/// Mean and population standard deviation of per-fold accuracies, each
/// fold judged with the threshold chosen on the others.
pub fn cross_validated_accuracy(scored: &[(f32, bool, usize)]) -> (f64, f64) {
    let folds = scored.iter().map(|p| p.2).max().map_or(0, |f| f + 1);
    let accuracies: Vec<f64> = (0..folds)
        .map(|fold| {
            let split = |held_out: bool| -> Vec<(f32, bool)> {
                scored
                    .iter()
                    .filter(|p| (p.2 == fold) == held_out)
                    .map(|p| (p.0, p.1))
                    .collect()
            };
            accuracy(&split(true), best_threshold(&split(false)))
        })
        .collect();
    let mean = accuracies.iter().sum::<f64>() / folds as f64;
    let variance = accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / folds as f64;
    (mean, variance.sqrt())
}

/// The true-accept rate at the lowest threshold whose false-accept rate is
/// at most `far`, and that threshold.
pub fn tar_at_far(scored: &[(f32, bool)], far: f64) -> (f64, f32) {
    let mut impostors: Vec<f32> = scored.iter().filter(|p| !p.1).map(|p| p.0).collect();
    impostors.sort_by(|a, b| b.total_cmp(a));
    let allowed = (far * impostors.len() as f64).floor() as usize;
    // Accept strictly above the (allowed+1)-th highest impostor score.
    let threshold = impostors.get(allowed).map_or(f32::MIN, |s| s.next_up());
    let genuine: Vec<f32> = scored.iter().filter(|p| p.1).map(|p| p.0).collect();
    let accepted = genuine.iter().filter(|s| **s >= threshold).count();
    (accepted as f64 / genuine.len() as f64, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_files_parse_into_folds_of_matched_then_mismatched() {
        let text = "2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t4\t5\nD\t1\tE\t1\n";
        let pairs = parse_pairs(text).unwrap();
        assert_eq!(pairs.len(), 4);
        assert!(pairs[0].same && !pairs[1].same);
        assert_eq!(pairs[1].second, ("B".to_string(), 3));
        assert_eq!(
            pairs.iter().map(|p| p.fold).collect::<Vec<_>>(),
            vec![0, 0, 1, 1]
        );
        assert!(parse_pairs("2\t1\nA\t1\t2\n").is_err());
        assert!(parse_pairs("1\t1\nA\tx\t2\nB\t1\tC\t1\n").is_err());
    }

    #[test]
    fn separable_scores_give_perfect_accuracy_and_the_threshold_between() {
        let scored: Vec<(f32, bool, usize)> = (0..40)
            .map(|i| {
                let same = i % 2 == 0;
                (if same { 0.6 + i as f32 * 0.001 } else { 0.1 }, same, i % 4)
            })
            .collect();
        assert_eq!(cross_validated_accuracy(&scored), (1.0, 0.0));
        let flat: Vec<(f32, bool)> = scored.iter().map(|p| (p.0, p.1)).collect();
        let t = best_threshold(&flat);
        assert!(t > 0.1 && t < 0.6, "{t}");
    }

    #[test]
    fn one_overlapping_impostor_costs_accuracy_in_its_fold_only() {
        let mut scored: Vec<(f32, bool, usize)> = (0..20)
            .map(|i| (if i % 2 == 0 { 0.9 } else { 0.1 }, i % 2 == 0, i % 2))
            .collect();
        scored.push((0.95, false, 1));
        let (mean, std) = cross_validated_accuracy(&scored);
        assert!(mean < 1.0 && std > 0.0);
    }

    #[test]
    fn tar_at_far_accepts_genuine_scores_above_the_impostor_tail() {
        let mut scored: Vec<(f32, bool)> = (0..1000).map(|i| (i as f32 / 1000.0, false)).collect();
        scored.extend([(0.9995, true), (0.5, true)]);
        // One false accept allowed in 1000: the threshold passes 0.999's
        // neighbour 0.998, so 0.9995 is accepted and 0.5 is not.
        let (tar, threshold) = tar_at_far(&scored, 1e-3);
        assert_eq!(tar, 0.5);
        assert!(threshold > 0.998 && threshold <= 0.999, "{threshold}");
    }
}
