#![allow(clippy::unwrap_used)]
use std::path::Path;

use infer_core::{DType, Dim, Tensor, TensorSpec};

use super::*;
use crate::workload::Workload;

fn dist(text: &str) -> LengthDist {
    parse_lengths_arg(text).unwrap().dist
}

fn draws(d: &LengthDist, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| d.draw(&mut rng)).collect()
}

#[allow(clippy::cast_precision_loss)]
fn mean(v: &[usize]) -> f64 {
    v.iter().sum::<usize>() as f64 / v.len() as f64
}

#[test]
fn specs_parse_and_say_what_was_expected() {
    let a = parse_lengths_arg("sequence=uniform:16..512").unwrap();
    assert_eq!((a.symbol.as_str(), a.to_string().as_str()), ("sequence", "sequence=uniform:16..512"));
    assert_eq!(a.dist, LengthDist::Uniform { lo: 16, hi: 512 });
    assert_eq!(dist("s=normal:100,20"), LengthDist::Normal { mean: 100.0, std: 20.0, lo: 1, hi: MAX_SIZE });
    assert_eq!(dist("s=lognormal:4.5,0.6,8..256"), LengthDist::LogNormal { mu: 4.5, sigma: 0.6, lo: 8, hi: 256 });
    for (text, wanted) in [
        ("sequence", "--lengths sequence: expected SYMBOL=SPEC"),
        ("s=uniform:5..2", "--lengths s=uniform:5..2: expected uniform:LO..HI with 1 <= LO <= HI"),
        ("s=uniform:0..2", "got `0..2`"),
        ("s=normal:abc,1", "expected normal:MEAN,STD[,LO..HI] with finite numbers, the second >= 0, got `abc,1`"),
        ("s=normal:10,-1", "the second >= 0"),
        ("s=lognormal:1,1,9..3", "expected lognormal:MU,SIGMA[,LO..HI] (of the log) range with 1 <= LO <= HI"),
        (
            "s=zipf:2",
            "expected uniform:LO..HI, normal:MEAN,STD[,LO..HI], lognormal:MU,SIGMA[,LO..HI] or file:PATH, got `zipf:2`",
        ),
        ("s=file:/no/such/lengths.txt", "cannot read /no/such/lengths.txt"),
    ] {
        let e = parse_lengths_arg(text).unwrap_err();
        assert!(e.contains(wanted), "{text}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn a_file_gives_its_lengths_and_names_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lengths.txt");
    std::fs::write(&path, "# token counts\n12\n\n40  # a long one\n7\n").unwrap();
    for spec in [format!("file:{}", path.display()), path.display().to_string()] {
        let d = dist(&format!("sequence={spec}"));
        assert_eq!(d, LengthDist::Observed { path: path.display().to_string(), values: vec![12, 40, 7] });
        let got = draws(&d, 300, 1);
        assert!(got.iter().all(|v| [12, 40, 7].contains(v)), "only the file's values");
        for v in [12, 40, 7] {
            assert!(got.contains(&v), "every value of the file is drawn: {v}");
        }
        assert_eq!(d.max(), 40);
    }
    std::fs::write(&path, "12\n0\n").unwrap();
    let e = parse_lengths_arg(&format!("s=file:{}", path.display())).unwrap_err();
    assert!(
        e.ends_with(&format!(
            "{} line 2: expected a length (an integer from 1 to {MAX_SIZE}), got `0`",
            path.display()
        )),
        "{e}"
    );
    std::fs::write(&path, "# nothing\n").unwrap();
    assert!(parse_lengths_arg(&format!("s={}", path.display())).unwrap_err().contains("found none"));
}

#[test]
fn draws_are_seeded_integers_within_the_range_with_the_right_centre() {
    let u = dist("s=uniform:16..48");
    let a = draws(&u, 20_000, 7);
    assert_eq!(a, draws(&u, 20_000, 7), "same seed, same draws");
    assert_ne!(a, draws(&u, 20_000, 8));
    assert!(a.iter().all(|v| (16..=48).contains(v)) && a.contains(&16) && a.contains(&48));
    assert!((mean(&a) - 32.0).abs() < 0.5, "{}", mean(&a));

    let n = draws(&dist("s=normal:100,10"), 20_000, 3);
    assert!((mean(&n) - 100.0).abs() < 0.5, "{}", mean(&n));
    let clamped = draws(&dist("s=normal:5,50,1..20"), 5_000, 3);
    assert!(clamped.iter().all(|v| (1..=20).contains(v)) && clamped.contains(&1) && clamped.contains(&20));

    // The median of a log-normal length is e^mu.
    let mut l = draws(&dist("s=lognormal:4,0.5"), 20_001, 5);
    l.sort_unstable();
    let median = l[l.len() / 2];
    assert!((50..=60).contains(&median), "e^4 = 54.6, got {median}");
    assert!(l[0] >= 1);
}

#[test]
fn pad_to_parses_and_pads() {
    assert_eq!("max".parse::<PadTo>().unwrap(), PadTo::Max);
    assert_eq!("multiple:64".parse::<PadTo>().unwrap(), PadTo::Multiple(64));
    let b: PadTo = "buckets:128,32,64".parse().unwrap();
    assert_eq!((b.clone(), b.to_string()), (PadTo::Buckets(vec![32, 64, 128]), "buckets:32,64,128".to_string()));
    for bad in ["min", "multiple:0", "multiple:x", "buckets:", "buckets:8,-1"] {
        let e = bad.parse::<PadTo>().unwrap_err();
        assert_eq!(e, format!("--pad-to {bad}: expected max, multiple:N or buckets:N,N,... (positive integers)"));
    }
    assert_eq!(PadTo::Max.padded(37).unwrap(), 37);
    assert_eq!(PadTo::Multiple(64).padded(37).unwrap(), 64);
    assert_eq!(PadTo::Multiple(64).padded(64).unwrap(), 64);
    assert_eq!(PadTo::Multiple(64).padded(65).unwrap(), 128);
    assert_eq!([1, 32, 33, 128].map(|v| b.padded(v).unwrap()), [32, 32, 64, 128]);
    let e = b.padded(129).unwrap_err().to_string();
    assert!(e.contains("--pad-to buckets:32,64,128: a length of 129 was drawn, above the largest bucket 128"), "{e}");
}

/// The tiny encoder's inputs: `input_ids`, `attention_mask`, `token_type_ids` i64 `[batch, sequence]`.
fn encoder() -> Plan {
    let ids = |n: &str| {
        TensorSpec::new(n, DType::I64, vec![Dim::Dynamic(Some("batch".into())), Dim::Dynamic(Some("sequence".into()))])
    };
    let specs = [ids("input_ids"), ids("attention_mask"), ids("token_type_ids")];
    Workload::default().plan_specs(Path::new("m.onnx"), &specs, None).unwrap()
}

fn lengths(spec: &str, pad: &str) -> Lengths {
    Lengths { arg: parse_lengths_arg(spec).unwrap(), pad_to: pad.parse().unwrap(), seed: 11 }
}

#[test]
fn a_batch_is_cut_to_its_padded_length_with_a_mask_of_ones_then_zeros() {
    let plan = encoder();
    let r = RequestLengths::draw(&plan, &Vec::new(), &lengths("sequence=uniform:1..20", "multiple:8"), 64).unwrap();
    let point = r.point(&Vec::new());
    assert_eq!(point[0].0, "sequence");
    assert!(point[0].1.is_multiple_of(8) && point[0].1 >= 8 && point[0].1 <= 24, "{point:?}");
    let built = plan.build(3, &point).unwrap().tensors;
    let cut = r.cut(built, 5, 3).unwrap();
    let lens = r.lengths(5, 3);
    let padded = r.padded(5, 3).unwrap();
    assert_eq!(padded, lens.iter().max().unwrap().div_ceil(8) * 8);
    assert!(cut.iter().all(|t| t.shape() == [3, padded]));
    let mask = cut[1].as_slice::<i64>().unwrap();
    for (row, &len) in lens.iter().enumerate() {
        let expected: Vec<i64> = (0..padded).map(|p| i64::from(p < len)).collect();
        assert_eq!(&mask[row * padded..(row + 1) * padded], expected.as_slice(), "row {row}: ones then zeros");
    }
    assert!(cut[2].as_slice::<i64>().unwrap().iter().all(|&v| v == 0), "type ids untouched");
    let p = r.padding(5, 3).unwrap();
    assert_eq!(p, Padding { useful: lens.iter().sum(), total: padded * 3 });
    assert!((0.0..1.0).contains(&p.waste()));
    // One item padded to its own length wastes nothing.
    let max = RequestLengths::draw(&plan, &Vec::new(), &lengths("sequence=uniform:1..20", "max"), 64).unwrap();
    assert!((0..64).all(|k| max.padding(k, 1).unwrap().waste() == 0.0));
}

#[test]
fn a_mask_along_other_axes_and_of_other_dtypes() {
    // [sequence, batch] of f32: item b's column.
    let t = Tensor::from_vec(vec![3, 2], vec![7.0f32; 6]).unwrap();
    let m = mask_padding(t, 1, 0, &[1, 3]).unwrap();
    assert_eq!(m.as_slice::<f32>().unwrap(), [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    let t = Tensor::from_vec(vec![2, 2], vec![false; 4]).unwrap();
    assert_eq!(mask_padding(t, 0, 1, &[2, 0]).unwrap().as_slice::<bool>().unwrap(), [true, true, false, false]);
    let t = Tensor::from_vec(vec![2, 2], vec![0i64; 4]).unwrap();
    assert!(mask_padding(t, 0, 1, &[1, 1, 1]).is_err());
}

#[test]
fn the_symbol_must_be_a_dynamic_dimension_given_once() {
    let plan = encoder();
    let e = RequestLengths::draw(&plan, &Vec::new(), &lengths("seq=uniform:1..4", "max"), 4).unwrap_err().to_string();
    assert!(
        e.contains("--lengths seq=uniform:1..4: no input has a dynamic dimension `seq` other than the batch; dynamic dimensions:")
            && e.contains("`sequence` (input_ids axis 1"),
        "{e}"
    );
    let e = RequestLengths::draw(&plan, &Vec::new(), &lengths("batch=uniform:1..4", "max"), 4).unwrap_err().to_string();
    assert!(e.contains("no input has a dynamic dimension `batch` other than the batch"), "{e}");
    let point = vec![("sequence".to_string(), 8)];
    let e = RequestLengths::draw(&plan, &point, &lengths("sequence=uniform:1..4", "max"), 4).unwrap_err().to_string();
    assert!(e.contains("--dim sequence sets the same dimension"), "{e}");
    let e = RequestLengths::draw(&plan, &Vec::new(), &lengths("sequence=uniform:1..200", "buckets:8,16"), 64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("above the largest bucket 16"), "{e}");
}
