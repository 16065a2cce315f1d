//! The simulator's physics and determinism, checked on real computed frames.

use atomvae::sim::{
    image_sample, probability_targets, simulate_frame, MovieParams, Sample, SampleAtom, SimError, SimParams, Simulator,
    CC_BOND, CLASS_SILICON, LATTICE_CONSTANT, Z_CARBON, Z_SILICON,
};
use rustfft::{num_complex::Complex, FftPlanner};

fn nearest_neighbour_distances(points: &[[f64; 2]]) -> Vec<f64> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            points
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_frames_and_another_seed_does_not() {
    let params = SimParams { height: 200, width: 240, holes: 2, contamination: 1, ..SimParams::default() };
    let a = simulate_frame(&params, 11).unwrap();
    let b = simulate_frame(&params, 11).unwrap();
    let c = simulate_frame(&params, 12).unwrap();
    let bits = |f: &atomvae::sim::SimFrame| f.image.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.atoms, b.atoms);
    assert_eq!(a.labels, b.labels);
    let differing = a.image.iter().zip(c.image.iter()).filter(|(x, y)| x != y).count();
    assert!(differing > a.image.len() / 2, "only {differing} pixels differ between seeds");
}

#[test]
fn movie_frames_are_reproducible_frame_by_frame() {
    let params = SimParams { height: 128, width: 128, ..SimParams::default() };
    let movie = MovieParams { frames: 4, ..MovieParams::default() };
    let run = |seed| Simulator::new(params.clone(), movie.clone(), seed).unwrap().map(|f| f.image).collect::<Vec<_>>();
    let (first, second) = (run(5), run(5));
    assert_eq!(first.len(), 4);
    for (x, y) in first.iter().zip(&second) {
        assert!(x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
    assert_ne!(first[0], first[3], "the specimen should change during the movie");
}

/// Distance (Å) of the strongest lattice reflection, from the 2-D power spectrum of a
/// Hann-windowed frame, refined to sub-bin precision by a centroid of the spot.
fn strongest_reflection_spacing(image: &ndarray::Array2<f32>, pixel_size: f64) -> f64 {
    let (h, w) = image.dim();
    let mean = image.mean().unwrap() as f64;
    let hann = |i: usize, n: usize| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
    let mut data: Vec<Complex<f64>> = (0..h * w)
        .map(|k| {
            let (r, c) = (k / w, k % w);
            Complex::new((image[[r, c]] as f64 - mean) * hann(r, h) * hann(c, w), 0.0)
        })
        .collect();
    let mut planner = FftPlanner::new();
    let row_fft = planner.plan_fft_forward(w);
    for row in data.chunks_mut(w) {
        row_fft.process(row);
    }
    let col_fft = planner.plan_fft_forward(h);
    let mut col = vec![Complex::new(0.0, 0.0); h];
    for c in 0..w {
        for r in 0..h {
            col[r] = data[r * w + c];
        }
        col_fft.process(&mut col);
        for r in 0..h {
            data[r * w + c] = col[r];
        }
    }
    let freq = |i: usize, n: usize| if i < n / 2 { i as f64 } else { i as f64 - n as f64 };
    let power = |r: usize, c: usize| data[r * w + c].norm_sqr();
    // Skip the lowest frequencies (hole/contrast envelopes): below 1/(4 Å).
    let min_radius = h as f64 * pixel_size / 4.0;
    let (mut best, mut at) = (0.0, (0, 0));
    for r in 0..h {
        for c in 0..w {
            let rad = freq(r, h).hypot(freq(c, w));
            if rad > min_radius && power(r, c) > best {
                best = power(r, c);
                at = (r, c);
            }
        }
    }
    let (mut sy, mut sx, mut sp) = (0.0, 0.0, 0.0);
    for dr in -2i64..=2 {
        for dc in -2i64..=2 {
            let r = (at.0 as i64 + dr).rem_euclid(h as i64) as usize;
            let c = (at.1 as i64 + dc).rem_euclid(w as i64) as usize;
            let p = power(r, c);
            sy += (freq(at.0, h) + dr as f64) * p;
            sx += (freq(at.1, w) + dc as f64) * p;
            sp += p;
        }
    }
    let (fy, fx) = (sy / sp / h as f64, sx / sp / w as f64);
    pixel_size / fy.hypot(fx)
}

#[test]
fn power_spectrum_peaks_at_the_graphene_lattice_spacing() {
    // First-order reflections of graphene: d = a·√3/2 = 2.130 Å.
    let expected = LATTICE_CONSTANT * 3f64.sqrt() / 2.0;
    for (pixel_size, seed) in [(0.104, 1), (0.08, 2)] {
        let params = SimParams { pixel_size, rotation: Some(0.3), ..SimParams::pristine(512, 512) };
        let frame = simulate_frame(&params, seed).unwrap();
        let measured = strongest_reflection_spacing(&frame.image, pixel_size);
        let err = (measured - expected).abs() / expected;
        assert!(err < 0.02, "at {pixel_size} Å/px: spacing {measured:.4} Å vs {expected:.4} Å ({:.2} %)", err * 100.0);
    }
}

#[test]
fn true_atoms_sit_one_bond_length_apart() {
    let params = SimParams { line_jitter: 0.0, ..SimParams::pristine(256, 256) };
    let frame = simulate_frame(&params, 3).unwrap();
    let pts: Vec<[f64; 2]> =
        frame.atoms.iter().map(|a| [a.y as f64 * params.pixel_size, a.x as f64 * params.pixel_size]).collect();
    assert!(pts.len() > 250, "{} atoms in a 26.6 Å square frame", pts.len());
    let d = nearest_neighbour_distances(&pts);
    for v in &d {
        assert!((v - CC_BOND).abs() / CC_BOND < 0.01, "nearest neighbour at {v:.4} Å");
    }
    // Graphene's areal density: 4 atoms per (a²·√3) = 0.3818 atoms/Å².
    let area = (256.0 * params.pixel_size).powi(2);
    let density = pts.len() as f64 / area;
    assert!((density - 0.3818).abs() / 0.3818 < 0.05, "density {density:.4} atoms/Å²");
}

#[test]
fn no_atom_lies_inside_a_hole_in_any_frame() {
    let params = SimParams { holes: 3, hole_radius: [5.0, 8.0], ..SimParams::default() };
    let movie = MovieParams { frames: 6, hole_growth: 1.0, hole_nucleation: 0.5, ..MovieParams::default() };
    let mut sim = Simulator::new(params, movie, 21).unwrap();
    let mut counts = Vec::new();
    while sim.frames_left() > 0 {
        let sample = sim.sample().clone();
        assert!(sample.holes.len() >= 3);
        for atom in &sample.atoms {
            for hole in &sample.holes {
                assert!(!hole.contains(atom.pos), "atom at {:?} inside hole {:?}", atom.pos, hole.centre);
            }
        }
        let frame = sim.next().unwrap();
        // Hole centres are dark and unlabelled.
        for hole in &sample.holes {
            let [y, x] = sample.to_pixels(hole.centre, sim.params());
            let (r, c) = (y.round() as i64, x.round() as i64);
            if (0..512).contains(&r) && (0..512).contains(&c) {
                assert_eq!(frame.labels[[r as usize, c as usize]], 0);
                assert!(frame.clean[[r as usize, c as usize]] < 0.2);
            }
        }
        counts.push(frame.atoms.len());
    }
    assert!(counts.last() < counts.first(), "holes grow, so atoms are lost: {counts:?}");
}

#[test]
fn silicon_fraction_matches_the_request() {
    let params = SimParams { si_fraction: 0.05, ..SimParams::default() };
    let frame = simulate_frame(&SimParams { height: 1024, width: 1024, ..params }, 8).unwrap();
    let si = frame.atoms.iter().filter(|a| a.class == CLASS_SILICON).count() as f64;
    let fraction = si / frame.atoms.len() as f64;
    // ~4,000 atoms: binomial σ ≈ 0.0035, allow 3.5 σ.
    assert!((fraction - 0.05).abs() < 0.012, "Si fraction {fraction:.4} of {} atoms", frame.atoms.len());
    assert!(frame.atoms.iter().all(|a| (a.class == CLASS_SILICON) == (a.z == Z_SILICON)));
}

#[test]
fn silicon_is_brighter_than_carbon_by_the_z_contrast_law() {
    let params = SimParams { dose: 0.0, read_noise: 0.0, background: 0.0, ..SimParams::pristine(64, 64) };
    // Two isolated atoms on pixel centres: the peaks are the pure Z weights.
    let sample = Sample {
        atoms: vec![
            SampleAtom { pos: [-1.6, -1.6], z: Z_CARBON, grain: 0, sublattice: 0 },
            SampleAtom { pos: [1.6 + 0.104 * 0.0, 1.6], z: Z_SILICON, grain: 0, sublattice: 1 },
        ],
        holes: vec![],
        contamination: vec![],
        amorphous: vec![],
        tilt: 0.0,
        shift: [0.0, 0.0],
        extent: 10.0,
    };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let frame = image_sample(&sample, &params, 0, &mut rng);
    let peak_of = |a: &atomvae::sim::TruthAtom| {
        let (r, c) = (a.y.round() as usize, a.x.round() as usize);
        let mut m = 0.0f32;
        for dr in 0..3 {
            for dc in 0..3 {
                m = m.max(frame.clean[[r + dr - 1, c + dc - 1]]);
            }
        }
        m as f64
    };
    let c = peak_of(frame.atoms.iter().find(|a| a.z == Z_CARBON).unwrap());
    let si = peak_of(frame.atoms.iter().find(|a| a.z == Z_SILICON).unwrap());
    let expected = (14.0f64 / 6.0).powf(1.7);
    assert!((si / c - expected).abs() / expected < 0.02, "Si/C = {:.3}, expected {expected:.3}", si / c);

    // In the lattice the neighbours' tails add the same background to both peaks.
    let params = SimParams { si_fraction: 0.05, dose: 0.0, read_noise: 0.0, ..SimParams::pristine(256, 256) };
    let frame = simulate_frame(&params, 4).unwrap();
    let mut c_peaks = vec![];
    let mut si_peaks = vec![];
    for a in &frame.atoms {
        let (r, col) = (a.y.round() as usize, a.x.round() as usize);
        if r < 2 || col < 2 || r > 253 || col > 253 {
            continue;
        }
        let v = frame.clean[[r, col]] as f64;
        if a.z == Z_SILICON {
            si_peaks.push(v)
        } else {
            c_peaks.push(v)
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (c, si) = (median(&mut c_peaks), median(&mut si_peaks));
    let tails = c - 1.0 - params.background;
    assert!(tails > 0.0 && tails < 0.3, "neighbour tails {tails}");
    let ratio = (si - tails - params.background) / (c - tails - params.background);
    assert!((ratio - expected).abs() / expected < 0.05, "Si/C in the lattice = {ratio:.3}");
}

#[test]
fn labels_and_probability_targets_agree_with_the_atoms() {
    let params = SimParams { si_fraction: 0.05, ..SimParams::default() };
    let params = SimParams { height: 160, width: 160, ..params };
    let frame = simulate_frame(&params, 9).unwrap();
    let probs = probability_targets(&frame.atoms, &params);
    assert_eq!(probs.dim(), (3, 160, 160));
    for r in 0..160 {
        for c in 0..160 {
            let s: f32 = (0..3).map(|k| probs[[k, r, c]]).sum();
            assert!((s - 1.0).abs() < 1e-5, "probabilities sum to {s}");
        }
    }
    for a in &frame.atoms {
        let (r, c) = (a.y.round() as usize, a.x.round() as usize);
        assert_eq!(frame.labels[[r, c]], a.class);
        assert!(probs[[a.class as usize, r, c]] > 0.8);
    }
    let labelled = frame.labels.iter().filter(|&&l| l > 0).count();
    let disk = std::f64::consts::PI * (params.label_radius / params.pixel_size).powi(2);
    let expected = disk * frame.atoms.len() as f64;
    assert!((labelled as f64 / expected - 1.0).abs() < 0.25, "{labelled} labelled px vs ≈{expected:.0}");
}

#[test]
fn silicon_drifts_toward_hole_edges_during_a_movie() {
    let params = SimParams { si_fraction: 0.05, holes: 2, hole_radius: [6.0, 6.0], ..SimParams::default() };
    let movie = MovieParams { frames: 25, si_hop_probability: 1.0, hole_nucleation: 0.0, ..MovieParams::default() };
    let mut sim = Simulator::new(params, movie, 2).unwrap();
    let mean_si_distance = |s: &Sample| {
        let d: Vec<f64> = s.atoms.iter().filter(|a| a.z == Z_SILICON).map(|a| s.distance_to_hole(a.pos)).collect();
        d.iter().sum::<f64>() / d.len() as f64
    };
    let before = mean_si_distance(sim.sample());
    let tilt_before = sim.sample().tilt;
    for _ in 0..25 {
        sim.next().unwrap();
    }
    let after = mean_si_distance(sim.sample());
    assert!(after < before - 2.0, "mean Si distance to hole edges {before:.2} → {after:.2} Å");
    assert!(sim.sample().tilt > tilt_before, "the lattice turns slightly");
}

#[test]
fn bad_parameters_are_refused_with_a_clear_error() {
    let err = |p: SimParams| Simulator::new(p, MovieParams::default(), 0).err().expect("should be refused");
    let e = err(SimParams { height: 0, ..SimParams::default() });
    assert!(e.to_string().contains("frame size must be positive"), "{e}");
    let e = err(SimParams { pixel_size: 0.8, ..SimParams::default() });
    assert!(matches!(e, SimError::LatticeNotResolved { .. }), "{e}");
    assert!(e.to_string().contains("cannot resolve the graphene lattice"));
    let e = err(SimParams { dose: -1.0, ..SimParams::default() });
    assert!(e.to_string().contains("dose must be ≥ 0"), "{e}");
    let e = err(SimParams { pixel_size: f64::NAN, ..SimParams::default() });
    assert!(e.to_string().contains("pixel size"), "{e}");
    let e = Simulator::new(SimParams::default(), MovieParams { frames: 0, ..MovieParams::default() }, 0).err().unwrap();
    assert!(e.to_string().contains("at least one frame"), "{e}");
}

#[test]
fn grains_boundaries_and_defects_keep_atoms_apart() {
    let params = SimParams { grains: 3, stone_wales: 3, holes: 1, height: 384, width: 384, ..SimParams::default() };
    let frame = simulate_frame(&params, 17).unwrap();
    let pts: Vec<[f64; 2]> =
        frame.atoms.iter().map(|a| [a.y as f64 * params.pixel_size, a.x as f64 * params.pixel_size]).collect();
    let d = nearest_neighbour_distances(&pts);
    let min = d.iter().cloned().fold(f64::INFINITY, f64::min);
    // Overlapping atoms at grain boundaries are removed; line jitter moves atoms by ≲ 0.03 Å.
    assert!(min > 1.1, "two atoms {min:.3} Å apart");
}
