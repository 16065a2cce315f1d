//! Small planar geometry helpers shared by the simulator: (y, x) points in ångström,
//! rotations (counter-clockwise in the displayed image, whose y axis points down),
//! irregular closed regions (holes, contamination) and a uniform-grid neighbour index.

use std::f64::consts::TAU;

/// A point (y, x) in ångström.
pub type Point = [f64; 2];

/// Rotates (y, x) by `angle` radians counter-clockwise as seen on screen (y down).
pub fn rotate(p: Point, angle: f64) -> Point {
    let (s, c) = angle.sin_cos();
    // With y pointing down, a visually counter-clockwise turn is a clockwise one in
    // (x, y) maths coordinates, hence the sign of the sine terms.
    [p[0] * c - p[1] * s, p[1] * c + p[0] * s]
}

pub fn distance(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A closed, star-shaped region with a wavy rim: r(φ) = r₀ (1 + Σ aₖ cos(kφ + φₖ)).
/// Real holes in graphene are irregular; three harmonics give that look cheaply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    pub centre: Point,
    pub radius: f64,
    /// (amplitude relative to the radius, phase) of the harmonics k = 2, 3, 4.
    pub harmonics: [(f64, f64); 3],
}

impl Blob {
    pub fn circle(centre: Point, radius: f64) -> Self {
        Self { centre, radius, harmonics: [(0.0, 0.0); 3] }
    }

    pub fn random(centre: Point, radius: f64, roughness: f64, rng: &mut impl rand::Rng) -> Self {
        let mut harmonics = [(0.0, 0.0); 3];
        for h in &mut harmonics {
            *h = (rng.gen_range(-roughness..=roughness), rng.gen_range(0.0..TAU));
        }
        Self { centre, radius, harmonics }
    }

    /// The rim's radius in the direction `phi`.
    pub fn rim(&self, phi: f64) -> f64 {
        let wave: f64 = self
            .harmonics
            .iter()
            .enumerate()
            .map(|(i, &(amp, phase))| amp * ((i as f64 + 2.0) * phi + phase).cos())
            .sum();
        self.radius * (1.0 + wave).max(0.2)
    }

    /// Signed distance-like measure: negative inside, positive outside (radial, in Å).
    pub fn radial_excess(&self, p: Point) -> f64 {
        let dy = p[0] - self.centre[0];
        let dx = p[1] - self.centre[1];
        dy.hypot(dx) - self.rim(dy.atan2(dx))
    }

    pub fn contains(&self, p: Point) -> bool {
        self.radial_excess(p) < 0.0
    }
}

/// Uniform-grid spatial index over a fixed set of points, for neighbour queries
/// within a radius no larger than the cell size.
pub struct NeighborGrid {
    cell: f64,
    origin: Point,
    rows: usize,
    cols: usize,
    starts: Vec<usize>,
    members: Vec<usize>,
}

impl NeighborGrid {
    pub fn new(points: &[Point], cell: f64) -> Self {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        if points.is_empty() {
            lo = [0.0; 2];
            hi = [0.0; 2];
        }
        let rows = ((hi[0] - lo[0]) / cell) as usize + 1;
        let cols = ((hi[1] - lo[1]) / cell) as usize + 1;
        let cell_of = |p: &Point| {
            let r = ((p[0] - lo[0]) / cell) as usize;
            let c = ((p[1] - lo[1]) / cell) as usize;
            r.min(rows - 1) * cols + c.min(cols - 1)
        };
        let mut counts = vec![0usize; rows * cols + 1];
        for p in points {
            counts[cell_of(p) + 1] += 1;
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut members = vec![0; points.len()];
        for (i, p) in points.iter().enumerate() {
            let k = cell_of(p);
            members[fill[k]] = i;
            fill[k] += 1;
        }
        Self { cell, origin: lo, rows, cols, starts: counts, members }
    }

    /// Indices of the points within `radius` of `p` (including a point equal to `p`).
    pub fn within(&self, points: &[Point], p: Point, radius: f64, out: &mut Vec<usize>) {
        out.clear();
        let reach = (radius / self.cell).ceil() as isize;
        let r0 = ((p[0] - self.origin[0]) / self.cell).floor() as isize;
        let c0 = ((p[1] - self.origin[1]) / self.cell).floor() as isize;
        for r in (r0 - reach).max(0)..=(r0 + reach).min(self.rows as isize - 1) {
            for c in (c0 - reach).max(0)..=(c0 + reach).min(self.cols as isize - 1) {
                let k = r as usize * self.cols + c as usize;
                for &i in &self.members[self.starts[k]..self.starts[k + 1]] {
                    if distance(points[i], p) <= radius {
                        out.push(i);
                    }
                }
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_counter_clockwise_on_screen() {
        // A point to the right of the centre, turned by 90° counter-clockwise on a
        // y-down screen, ends up above it (negative y).
        let p = rotate([0.0, 1.0], std::f64::consts::FRAC_PI_2);
        assert!((p[0] + 1.0).abs() < 1e-12 && p[1].abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn grid_finds_the_same_neighbours_as_brute_force() {
        let pts: Vec<Point> = (0..400).map(|i| [(i / 20) as f64 * 0.7, (i % 20) as f64 * 0.9]).collect();
        let grid = NeighborGrid::new(&pts, 2.0);
        let mut got = Vec::new();
        for &q in &[[3.0, 4.0], [0.0, 0.0], [13.3, 17.1]] {
            grid.within(&pts, q, 1.6, &mut got);
            let want: Vec<usize> = (0..pts.len()).filter(|&i| distance(pts[i], q) <= 1.6).collect();
            assert_eq!(got, want);
        }
    }
}
