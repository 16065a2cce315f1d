//! The specimen: where every atom of a Si-doped graphene sheet sits (in Å), which
//! regions are holes or amorphous contamination, and how all of it changes under
//! the beam from frame to frame (holes grow, vacancies accumulate, Si hops toward
//! hole edges, the lattice turns slightly) — the dynamics the paper's movies show.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::geometry::{distance, rotate, Blob, NeighborGrid, Point};
use super::params::{MovieParams, SimParams, CC_BOND, LATTICE_CONSTANT};

/// Atomic numbers of the two species.
pub const Z_CARBON: u8 = 6;
pub const Z_SILICON: u8 = 14;

/// Two atoms closer than this (Å) are bonded neighbours.
const BOND_CUTOFF: f64 = 1.75;
/// Atoms of different grains closer than this (Å) would overlap; one of them goes.
const OVERLAP_CUTOFF: f64 = 1.2;
/// Density of the amorphous contamination (atoms/Å²; graphene has 0.38).
const AMORPHOUS_DENSITY: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleAtom {
    /// Position (y, x) in Å in the specimen frame, origin at the field-of-view centre.
    pub pos: Point,
    pub z: u8,
    /// The grain the atom was placed in (0 for a single crystal).
    pub grain: u8,
    /// The honeycomb sublattice (0 = A, 1 = B) of its grain: the two sites whose
    /// bonds point in opposite directions (the paper's angle latent tells them apart).
    pub sublattice: u8,
}

/// The specimen and its imaging geometry (rotation and shift of the stage).
#[derive(Debug, Clone)]
pub struct Sample {
    pub atoms: Vec<SampleAtom>,
    pub holes: Vec<Blob>,
    pub contamination: Vec<Blob>,
    /// Positions of contamination atoms (not part of the ground truth).
    pub amorphous: Vec<Point>,
    /// Extra rotation of the specimen accumulated during a movie (rad).
    pub tilt: f64,
    /// Stage shift accumulated during a movie (Å).
    pub shift: Point,
    /// Radius (Å) of the disk around the field-of-view centre that holds atoms.
    pub extent: f64,
}

/// Atoms of a perfect honeycomb sheet inside a disk of `radius` Å, turned by
/// `rotation` and shifted by `offset` (Å), each with its sublattice (0 = A, 1 = B).
pub fn honeycomb(rotation: f64, offset: Point, radius: f64) -> Vec<(Point, u8)> {
    let a = LATTICE_CONSTANT;
    let a1 = [0.0, a];
    let a2 = [a * 3f64.sqrt() / 2.0, a / 2.0];
    let basis = [[0.0, 0.0], [(a1[0] + a2[0]) / 3.0, (a1[1] + a2[1]) / 3.0]];
    // Cells far enough out to cover the disk whatever the offset.
    let n = ((radius + 2.0 * a) / (a * 0.5)).ceil() as i64;
    let mut out = Vec::new();
    for i in -n..=n {
        for j in -n..=n {
            for (sublattice, b) in basis.iter().enumerate() {
                let p = [
                    i as f64 * a1[0] + j as f64 * a2[0] + b[0] + offset[0],
                    i as f64 * a1[1] + j as f64 * a2[1] + b[1] + offset[1],
                ];
                let p = rotate(p, rotation);
                if p[0].hypot(p[1]) <= radius {
                    out.push((p, sublattice as u8));
                }
            }
        }
    }
    out
}

impl Sample {
    /// Builds a specimen for `params`, drawing every random choice from `rng`.
    /// `margin` (Å) widens the populated disk for movies whose stage drifts.
    pub fn build(params: &SimParams, margin: f64, rng: &mut ChaCha8Rng) -> Self {
        let [fov_h, fov_w] = params.field_of_view();
        let extent = 0.5 * fov_h.hypot(fov_w) + 4.0 * params.probe_sigma + margin;
        let base_rotation = params.rotation.unwrap_or_else(|| rng.gen_range(0.0..std::f64::consts::TAU));
        let mut sample = Self {
            atoms: Vec::new(),
            holes: Vec::new(),
            contamination: Vec::new(),
            amorphous: Vec::new(),
            tilt: 0.0,
            shift: [0.0, 0.0],
            extent,
        };
        sample.place_grains(params, base_rotation, rng);
        for _ in 0..params.stone_wales {
            sample.add_stone_wales(rng);
        }
        let inside_fov =
            |rng: &mut ChaCha8Rng| -> Point { [rng.gen_range(-0.4..0.4) * fov_h, rng.gen_range(-0.4..0.4) * fov_w] };
        for _ in 0..params.holes {
            let centre = inside_fov(rng);
            let radius = rng.gen_range(params.hole_radius[0]..=params.hole_radius[1]);
            sample.holes.push(Blob::random(centre, radius, 0.15, rng));
        }
        for _ in 0..params.contamination {
            let centre = inside_fov(rng);
            let blob = Blob::random(centre, params.contamination_radius, 0.25, rng);
            let n = (AMORPHOUS_DENSITY * std::f64::consts::PI * blob.radius.powi(2) * 1.5) as usize;
            for _ in 0..n {
                let r = blob.radius * 1.4;
                let p = [centre[0] + rng.gen_range(-r..r), centre[1] + rng.gen_range(-r..r)];
                if blob.contains(p) {
                    sample.amorphous.push(p);
                }
            }
            sample.contamination.push(blob);
        }
        sample.carve();
        sample.atoms.retain(|_| rng.gen::<f64>() >= params.vacancy_fraction);
        for atom in &mut sample.atoms {
            if rng.gen::<f64>() < params.si_fraction {
                atom.z = Z_SILICON;
            }
        }
        sample
    }

    fn place_grains(&mut self, params: &SimParams, base_rotation: f64, rng: &mut ChaCha8Rng) {
        let grains = params.grains;
        let seeds: Vec<Point> = if grains == 1 {
            vec![[0.0, 0.0]]
        } else {
            let [fov_h, fov_w] = params.field_of_view();
            (0..grains).map(|_| [rng.gen_range(-0.5..0.5) * fov_h, rng.gen_range(-0.5..0.5) * fov_w]).collect()
        };
        let mut points = Vec::new();
        let mut grain_of = Vec::new();
        let mut sublattice_of = Vec::new();
        for g in 0..grains {
            // Misorientations of real grain boundaries are rarely tiny; keep ≥ 8°.
            let rotation = if g == 0 {
                base_rotation
            } else {
                base_rotation + rng.gen_range(0.14..(std::f64::consts::FRAC_PI_3 - 0.14))
            };
            let offset = [rng.gen_range(0.0..LATTICE_CONSTANT), rng.gen_range(0.0..LATTICE_CONSTANT)];
            for (p, sublattice) in honeycomb(rotation, offset, self.extent) {
                let nearest =
                    (0..grains).min_by(|&a, &b| distance(p, seeds[a]).total_cmp(&distance(p, seeds[b]))).unwrap_or(0);
                if nearest == g {
                    points.push(p);
                    grain_of.push(g);
                    sublattice_of.push(sublattice);
                }
            }
        }
        let mut keep = vec![true; points.len()];
        if grains > 1 {
            let grid = NeighborGrid::new(&points, 2.0);
            let mut near = Vec::new();
            for i in 0..points.len() {
                grid.within(&points, points[i], OVERLAP_CUTOFF, &mut near);
                if near.iter().any(|&j| j < i && keep[j] && grain_of[j] != grain_of[i]) {
                    keep[i] = false;
                }
            }
        }
        self.atoms = (0..points.len())
            .filter(|&i| keep[i])
            .map(|i| SampleAtom { pos: points[i], z: Z_CARBON, grain: grain_of[i] as u8, sublattice: sublattice_of[i] })
            .collect();
    }

    fn positions(&self) -> Vec<Point> {
        self.atoms.iter().map(|a| a.pos).collect()
    }

    /// Neighbour lists (bond partners) of every atom.
    fn bonds(&self) -> Vec<Vec<usize>> {
        let pts = self.positions();
        let grid = NeighborGrid::new(&pts, 2.0);
        let mut near = Vec::new();
        pts.iter()
            .enumerate()
            .map(|(i, &p)| {
                grid.within(&pts, p, BOND_CUTOFF, &mut near);
                near.iter().copied().filter(|&j| j != i).collect()
            })
            .collect()
    }

    /// Turns one C–C bond in fully bonded surroundings by 90° about its centre:
    /// the Stone–Wales 5-7-7-5 defect.
    fn add_stone_wales(&mut self, rng: &mut ChaCha8Rng) {
        let bonds = self.bonds();
        // Only inside the field of view's disk so that the defect is seen.
        let candidates: Vec<usize> = (0..self.atoms.len())
            .filter(|&i| {
                let p = self.atoms[i].pos;
                p[0].hypot(p[1]) < 0.5 * self.extent
                    && bonds[i].len() == 3
                    && bonds[i].iter().all(|&j| bonds[j].len() == 3)
            })
            .collect();
        let Some(&i) = candidates.choose(rng) else { return };
        let j = bonds[i][rng.gen_range(0..3)];
        let (pi, pj) = (self.atoms[i].pos, self.atoms[j].pos);
        let mid = [(pi[0] + pj[0]) / 2.0, (pi[1] + pj[1]) / 2.0];
        for (k, p) in [(i, pi), (j, pj)] {
            let r = rotate([p[0] - mid[0], p[1] - mid[1]], std::f64::consts::FRAC_PI_2);
            self.atoms[k].pos = [mid[0] + r[0], mid[1] + r[1]];
        }
    }

    /// Removes atoms inside holes and contamination, then atoms left with fewer than
    /// two bonds (they would not stay put at a real hole's edge).
    fn carve(&mut self) {
        let holes = &self.holes;
        let dirt = &self.contamination;
        self.atoms.retain(|a| !holes.iter().any(|h| h.contains(a.pos)) && !dirt.iter().any(|b| b.contains(a.pos)));
        for _ in 0..3 {
            let bonds = self.bonds();
            let before = self.atoms.len();
            let mut idx = 0;
            self.atoms.retain(|_| {
                idx += 1;
                bonds[idx - 1].len() >= 2
            });
            if self.atoms.len() == before {
                break;
            }
        }
    }

    /// How far (Å) a point lies outside the nearest hole's rim (∞ without holes).
    pub fn distance_to_hole(&self, p: Point) -> f64 {
        self.holes.iter().map(|h| h.radial_excess(p)).fold(f64::INFINITY, f64::min)
    }

    /// One frame's worth of beam damage and stage motion.
    pub fn evolve(&mut self, movie: &MovieParams, rng: &mut ChaCha8Rng) {
        self.tilt += movie.rotation_per_frame;
        if movie.stage_drift > 0.0 {
            let n = Normal::new(0.0, movie.stage_drift).expect("validated drift");
            self.shift[0] += n.sample(rng);
            self.shift[1] += n.sample(rng);
        }
        for hole in &mut self.holes {
            hole.radius += movie.hole_growth;
        }
        if !self.atoms.is_empty() && rng.gen::<f64>() < movie.hole_nucleation {
            let seed = self.atoms[rng.gen_range(0..self.atoms.len())].pos;
            self.holes.push(Blob::random(seed, CC_BOND * 1.2, 0.1, rng));
        }
        self.atoms.retain(|_| rng.gen::<f64>() >= movie.vacancy_rate);
        self.carve();
        self.hop_silicon(movie.si_hop_probability, rng);
    }

    /// Si atoms swap places with the bonded C neighbour closest to a hole edge,
    /// mimicking the beam-driven migration of dopants to edges.
    fn hop_silicon(&mut self, probability: f64, rng: &mut ChaCha8Rng) {
        if self.holes.is_empty() || probability == 0.0 {
            return;
        }
        let bonds = self.bonds();
        // A Si atom hops at most once per frame, even if it lands on a later index.
        let mut arrived = vec![false; self.atoms.len()];
        for i in 0..self.atoms.len() {
            if self.atoms[i].z != Z_SILICON || arrived[i] || rng.gen::<f64>() >= probability {
                continue;
            }
            let here = self.distance_to_hole(self.atoms[i].pos);
            let best = bonds[i]
                .iter()
                .copied()
                .filter(|&j| self.atoms[j].z == Z_CARBON)
                .map(|j| (j, self.distance_to_hole(self.atoms[j].pos)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((j, there)) = best {
                if there < here - 0.1 {
                    self.atoms[i].z = Z_CARBON;
                    self.atoms[j].z = Z_SILICON;
                    arrived[j] = true;
                }
            }
        }
    }

    /// Where a specimen point appears in the image, in pixels (y, x), before scan
    /// distortion.
    pub fn to_pixels(&self, p: Point, params: &SimParams) -> [f64; 2] {
        let r = rotate(p, self.tilt);
        [
            (params.height as f64 - 1.0) / 2.0 + (r[0] + self.shift[0]) / params.pixel_size,
            (params.width as f64 - 1.0) / 2.0 + (r[1] + self.shift[1]) / params.pixel_size,
        ]
    }
}
