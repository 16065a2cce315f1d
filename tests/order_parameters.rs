//! The ground truth the order parameters are scored against (the simulator's
//! sublattice and grain labels, the disorder of each atom) and the scoring itself,
//! on simulated movies with latents whose answer is known.

use atomvae::analysis::order::{disordered_atoms, score_order_parameters, EncodedWindows, TruthAtoms};
use atomvae::sim::{honeycomb, MovieParams, SimParams, Simulator};

fn truth_of(frames: impl IntoIterator<Item = atomvae::sim::SimFrame>) -> TruthAtoms {
    let mut t = TruthAtoms::default();
    for frame in frames {
        for a in &frame.atoms {
            t.frame.push(a.frame);
            t.y.push(a.y);
            t.x.push(a.x);
            t.grain.push(a.grain);
            t.sublattice.push(a.sublattice);
        }
    }
    t
}

#[test]
fn every_bond_inside_a_grain_joins_the_two_sublattices() {
    let params = SimParams { grains: 3, line_jitter: 0.02, ..SimParams::pristine(256, 256) };
    let movie = MovieParams { frames: 2, ..MovieParams::default() };
    let truth = truth_of(Simulator::new(params.clone(), movie, 5).unwrap());
    let bonds = atomvae::analysis::order::neighbours(&truth.y, &truth.x, &truth.frame, 1.8 / params.pixel_size);
    let (mut within, mut across_grains) = (0, 0);
    for (i, near) in bonds.iter().enumerate() {
        for &j in near {
            if truth.grain[i] != truth.grain[j] {
                across_grains += 1;
            } else {
                within += 1;
                assert_ne!(
                    truth.sublattice[i], truth.sublattice[j],
                    "a bond of atoms {i} and {j} within one sublattice"
                );
            }
        }
    }
    let grains: std::collections::BTreeSet<u8> = truth.grain.iter().copied().collect();
    assert!(within > 1000 && across_grains > 20, "{within} bonds within grains, {across_grains} across");
    assert_eq!(grains.len(), 3, "every grain is seen: {grains:?}");
    let share_b = truth.sublattice.iter().filter(|&&s| s == 1).count() as f64 / truth.sublattice.len() as f64;
    assert!((share_b - 0.5).abs() < 0.02, "sublattice B holds {share_b:.3} of the atoms");
}

#[test]
fn a_vacancy_disorders_its_three_neighbours_and_a_sheet_its_rim() {
    // A perfect sheet in pixels of 0.1 Å, one atom taken out at the centre.
    let pixel_size = 0.1;
    let sites: Vec<[f64; 2]> = honeycomb(0.3, [0.4, 0.2], 15.0).into_iter().map(|(p, _)| p).collect();
    let centre =
        (0..sites.len()).min_by(|&a, &b| sites[a][0].hypot(sites[a][1]).total_cmp(&sites[b][0].hypot(sites[b][1])));
    let centre = centre.unwrap();
    let kept: Vec<[f64; 2]> = sites.iter().enumerate().filter(|&(i, _)| i != centre).map(|(_, p)| *p).collect();
    let truth = TruthAtoms {
        frame: vec![0; kept.len()],
        y: kept.iter().map(|p| (p[0] / pixel_size) as f32).collect(),
        x: kept.iter().map(|p| (p[1] / pixel_size) as f32).collect(),
        grain: vec![0; kept.len()],
        sublattice: vec![0; kept.len()],
    };
    let disordered = disordered_atoms(&truth, pixel_size);
    let removed = sites[centre];
    for (p, &d) in kept.iter().zip(&disordered) {
        let from_vacancy = (p[0] - removed[0]).hypot(p[1] - removed[1]);
        let from_rim = 15.0 - p[0].hypot(p[1]);
        if from_vacancy < 1.5 {
            assert!(d, "a neighbour of the vacancy at {p:?} is disordered");
        } else if from_rim > 2.0 {
            assert!(!d, "an atom at {p:?} in the perfect bulk is ordered");
        }
    }
    let n_rim = kept.iter().zip(&disordered).filter(|(p, &d)| d && 15.0 - p[0].hypot(p[1]) < 1.5).count();
    assert!(n_rim > 20, "the sheet's rim is disordered ({n_rim} atoms)");
}

#[test]
fn latents_that_know_the_answer_score_perfectly_and_shuffled_ones_do_not() {
    // A movie whose holes grow: the disordered fraction changes from frame to frame.
    let params =
        SimParams { holes: 2, hole_radius: [3.0, 5.0], vacancy_fraction: 0.02, ..SimParams::pristine(400, 400) };
    let movie = MovieParams { frames: 6, hole_growth: 0.8, rotation_per_frame: 0.05, ..MovieParams::default() };
    let truth = truth_of(Simulator::new(params.clone(), movie, 9).unwrap());
    let disordered = disordered_atoms(&truth, params.pixel_size);
    let n = truth.y.len();
    // An "rVAE" that learned everything: γ = tilt of the frame + 60° on sublattice B
    // (+ a 120° turn now and then, which is the same site), z1 = 2 on disordered atoms.
    let names: Vec<String> = ["angle", "z1", "z2"].iter().map(|s| s.to_string()).collect();
    let mut means = ndarray::Array2::<f32>::zeros((n, 3));
    for i in 0..n {
        let turn = (i % 3) as f32 * 120f32.to_radians();
        means[[i, 0]] = 0.05 * truth.frame[i] as f32 + f32::from(truth.sublattice[i]) * 60f32.to_radians() + turn;
        means[[i, 1]] = if disordered[i] { 2.0 } else { 0.0 } + 0.01 * (i % 5) as f32;
        means[[i, 2]] = (i % 7) as f32;
    }
    // Windows sit a fraction of a pixel off their atoms, as found atoms do.
    let y: Vec<f32> = truth.y.iter().map(|v| v + 0.3).collect();
    let windows = EncodedWindows { frame: &truth.frame, y: &y, x: &truth.x, means: means.view(), names: &names };
    let perfect = score_order_parameters(&windows, &truth, params.pixel_size).unwrap();
    assert_eq!((perfect.windows_matched, perfect.windows_unmatched), (n, 0));
    assert_eq!(perfect.sublattice_accuracy, 1.0);
    assert_eq!(perfect.z1_auc.auc, 1.0);
    assert!((perfect.content_auc[1].auc - 0.5).abs() < 0.1, "z2 knows nothing: {:?}", perfect.content_auc[1]);
    assert!(perfect.dynamics_r > 0.99, "{}", perfect.dynamics_r);
    let fractions: Vec<f64> = perfect.per_frame.iter().map(|f| f.disordered_fraction).collect();
    assert!(fractions[5] > fractions[0] + 0.05, "the holes grow: {fractions:?}");
    // The same values dealt to the wrong atoms.
    let mut shuffled = means.clone();
    for i in 0..n {
        shuffled.row_mut(i).assign(&means.row((i * 7919 + 13) % n));
    }
    let windows = EncodedWindows { means: shuffled.view(), ..windows };
    let chance = score_order_parameters(&windows, &truth, params.pixel_size).unwrap();
    assert!(chance.sublattice_accuracy < 0.6, "{}", chance.sublattice_accuracy);
    assert!((chance.z1_auc.auc - 0.5).abs() < 0.1, "{:?}", chance.z1_auc);
}
