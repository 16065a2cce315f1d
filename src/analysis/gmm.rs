//! Gaussian mixtures with full covariances, fitted by EM (Dempster et al. 1977)
//! from k-means++ starts (Arthur & Vassilvitskii 2007), the best of several
//! restarts kept, and the Bayesian information criterion to suggest the number of
//! components. The paper clusters raw windows with a GMM as its baseline (Fig. 5A/D)
//! and we also cluster the rVAE's latent points (its order parameters).
//! Linear algebra runs in libtorch (f64), so windows of a few hundred pixels stay fast.

use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::AnalysisError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GmmConfig {
    /// Independent EM runs from different k-means++ starts; the best is kept.
    pub restarts: usize,
    pub max_iterations: usize,
    /// Stop when the mean log-likelihood per point changes less than this.
    pub tolerance: f64,
    /// Added to every covariance's diagonal (keeps constant pixels invertible).
    pub covariance_floor: f64,
    pub seed: u64,
}

impl Default for GmmConfig {
    fn default() -> Self {
        Self { restarts: 3, max_iterations: 200, tolerance: 1e-4, covariance_floor: 1e-6, seed: 0 }
    }
}

/// A fitted mixture: k components in d dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gmm {
    pub weights: Vec<f64>,
    /// k × d, row-major.
    pub means: Vec<f64>,
    /// k × d × d, row-major.
    pub covariances: Vec<f64>,
    pub dim: usize,
    /// Mean log-likelihood per point at convergence.
    pub mean_log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

impl Gmm {
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    pub fn mean(&self, k: usize) -> &[f64] {
        &self.means[k * self.dim..(k + 1) * self.dim]
    }

    /// Free parameters of a full-covariance mixture.
    pub fn parameter_count(k: usize, d: usize) -> usize {
        k * d + k * d * (d + 1) / 2 + k - 1
    }

    /// BIC = −2 ln L + p ln n of this mixture on n points.
    pub fn bic(&self, n: usize) -> f64 {
        -2.0 * self.mean_log_likelihood * n as f64
            + Self::parameter_count(self.components(), self.dim) as f64 * (n as f64).ln()
    }

    /// The most probable component of every row of `x` (n × d).
    pub fn predict(&self, x: &Tensor) -> Vec<i64> {
        let x = x.to_kind(Kind::Double);
        let (log_resp, _) = self.e_step(&x);
        Vec::<i64>::try_from(log_resp.argmax(1, false)).expect("labels")
    }

    /// Posterior probabilities of the components (n × k).
    pub fn responsibilities(&self, x: &Tensor) -> Tensor {
        let (log_resp, _) = self.e_step(&x.to_kind(Kind::Double));
        log_resp.exp()
    }

    fn tensors(&self) -> (Tensor, Tensor, Tensor) {
        let (k, d) = (self.components() as i64, self.dim as i64);
        (
            Tensor::from_slice(&self.weights),
            Tensor::from_slice(&self.means).view([k, d]),
            Tensor::from_slice(&self.covariances).view([k, d, d]),
        )
    }

    /// Log responsibilities (n × k) and mean log-likelihood.
    fn e_step(&self, x: &Tensor) -> (Tensor, f64) {
        let (w, m, c) = self.tensors();
        e_step(x, &w, &m, &c)
    }
}

/// log N(x | μ_k, Σ_k) + log π_k for every row and component, normalised.
fn e_step(x: &Tensor, weights: &Tensor, means: &Tensor, covs: &Tensor) -> (Tensor, f64) {
    let (n, d) = (x.size()[0], x.size()[1]);
    let k = weights.size()[0];
    let chol = covs.linalg_cholesky(false);
    let mut columns = Vec::with_capacity(k as usize);
    for j in 0..k {
        let l = chol.get(j);
        let centred = (x - means.get(j)).transpose(0, 1);
        let solved = l.linalg_solve_triangular(&centred, false, true, false);
        let maha = solved.square().sum_dim_intlist(0, false, Kind::Double);
        let log_det = l.diagonal(0, 0, 1).log().sum(Kind::Double) * 2.0;
        let log_pdf = (maha + log_det + d as f64 * (2.0 * std::f64::consts::PI).ln()) * -0.5;
        columns.push(log_pdf + weights.get(j).log());
    }
    let weighted = Tensor::stack(&columns, 1);
    let norm = weighted.logsumexp([1i64], true);
    let mean_ll = norm.sum(Kind::Double).double_value(&[]) / n as f64;
    (weighted - norm, mean_ll)
}

/// Weights, means and covariances from responsibilities (n × k).
fn m_step(x: &Tensor, resp: &Tensor, floor: f64) -> (Tensor, Tensor, Tensor) {
    let (n, d) = (x.size()[0], x.size()[1]);
    let nk = resp.sum_dim_intlist(0, false, Kind::Double) + 10.0 * f64::EPSILON;
    let means = resp.transpose(0, 1).matmul(x) / nk.unsqueeze(1);
    let eye = Tensor::eye(d, (Kind::Double, x.device())) * floor;
    let covs: Vec<Tensor> = (0..nk.size()[0])
        .map(|j| {
            let centred = x - means.get(j);
            let weighted = &centred * resp.select(1, j).unsqueeze(1);
            weighted.transpose(0, 1).matmul(&centred) / nk.get(j) + &eye
        })
        .collect();
    (nk / n as f64, means, Tensor::stack(&covs, 0))
}

/// k-means++ seeds followed by a few Lloyd iterations: hard labels (n).
fn kmeans_labels(x: &Tensor, k: usize, rng: &mut ChaCha8Rng) -> Tensor {
    let n = x.size()[0];
    let mut centres = vec![x.get(rng.gen_range(0..n))];
    while centres.len() < k {
        let c = Tensor::stack(&centres, 0);
        let d2 = sq_distances(x, &c).min_dim(1, false).0;
        let d2: Vec<f64> = Vec::try_from(d2.clamp_min(0.0)).expect("distances");
        let pick = match WeightedIndex::new(&d2) {
            Ok(dist) => dist.sample(rng) as i64,
            // All points coincide with a centre: any point will do.
            Err(_) => rng.gen_range(0..n),
        };
        centres.push(x.get(pick));
    }
    let mut c = Tensor::stack(&centres, 0);
    let mut labels = sq_distances(x, &c).argmin(1, false);
    for _ in 0..10 {
        let one_hot = labels.one_hot(k as i64).to_kind(Kind::Double);
        let counts = one_hot.sum_dim_intlist(0, false, Kind::Double);
        let sums = one_hot.transpose(0, 1).matmul(x);
        // Empty clusters keep their previous centre.
        let filled = counts.gt(0.0).unsqueeze(1);
        c = (sums / counts.clamp_min(1.0).unsqueeze(1)).where_self(&filled, &c);
        let next = sq_distances(x, &c).argmin(1, false);
        let same = next.eq_tensor(&labels).all().int64_value(&[]) == 1;
        labels = next;
        if same {
            break;
        }
    }
    labels
}

fn sq_distances(x: &Tensor, c: &Tensor) -> Tensor {
    x.square().sum_dim_intlist(1, true, Kind::Double) - x.matmul(&c.transpose(0, 1)) * 2.0
        + c.square().sum_dim_intlist(1, false, Kind::Double).unsqueeze(0)
}

/// Fits a k-component mixture to the rows of `x` (n × d, any float kind).
pub fn fit_gmm(x: &Tensor, k: usize, config: &GmmConfig) -> Result<Gmm, AnalysisError> {
    if x.dim() != 2 {
        return Err(AnalysisError::BadInput(format!("GMM input must be (points, dimensions), got {:?}", x.size())));
    }
    let (n, d) = (x.size()[0] as usize, x.size()[1] as usize);
    if k == 0 || n < k || d == 0 {
        return Err(AnalysisError::BadInput(format!("cannot fit {k} components to {n} points in {d} dimensions")));
    }
    let x = x.to_kind(Kind::Double);
    if x.isfinite().all().int64_value(&[]) != 1 {
        return Err(AnalysisError::BadInput("GMM input has NaN or infinite values".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut best: Option<Gmm> = None;
    for _ in 0..config.restarts.max(1) {
        let labels = kmeans_labels(&x, k, &mut rng);
        let mut resp = labels.one_hot(k as i64).to_kind(Kind::Double);
        let mut previous = f64::NEG_INFINITY;
        let (mut converged, mut iterations, mut ll) = (false, 0, f64::NEG_INFINITY);
        let mut params = m_step(&x, &resp, config.covariance_floor);
        for it in 0..config.max_iterations {
            let (log_resp, mean_ll) = e_step(&x, &params.0, &params.1, &params.2);
            ll = mean_ll;
            iterations = it + 1;
            if !ll.is_finite() {
                break;
            }
            resp = log_resp.exp();
            params = m_step(&x, &resp, config.covariance_floor);
            if (ll - previous).abs() < config.tolerance {
                converged = true;
                break;
            }
            previous = ll;
        }
        // The log-likelihood of the final parameters.
        let (_, final_ll) = e_step(&x, &params.0, &params.1, &params.2);
        if final_ll.is_finite() {
            ll = final_ll;
        }
        let gmm = Gmm {
            weights: Vec::try_from(&params.0).expect("weights"),
            means: Vec::try_from(params.1.flatten(0, -1)).expect("means"),
            covariances: Vec::try_from(params.2.flatten(0, -1)).expect("covariances"),
            dim: d,
            mean_log_likelihood: ll,
            iterations,
            converged,
        };
        if best.as_ref().is_none_or(|b| gmm.mean_log_likelihood > b.mean_log_likelihood) {
            best = Some(gmm);
        }
    }
    best.filter(|g| g.mean_log_likelihood.is_finite())
        .ok_or_else(|| AnalysisError::BadInput("EM did not reach a finite likelihood (degenerate data?)".into()))
}

/// One fit per k in `ks`; returns the fits with their BIC and the index of the
/// lowest BIC.
pub fn select_by_bic(x: &Tensor, ks: &[usize], config: &GmmConfig) -> Result<(Vec<(Gmm, f64)>, usize), AnalysisError> {
    let n = x.size().first().copied().unwrap_or(0) as usize;
    let fits: Vec<(Gmm, f64)> = ks
        .iter()
        .filter(|&&k| k <= n)
        .map(|&k| {
            fit_gmm(x, k, config).map(|g| {
                let bic = g.bic(n);
                (g, bic)
            })
        })
        .collect::<Result<_, _>>()?;
    if fits.is_empty() {
        return Err(AnalysisError::BadInput(format!("no k in {ks:?} fits {n} points")));
    }
    let best = (0..fits.len()).min_by(|&a, &b| fits[a].1.total_cmp(&fits[b].1)).expect("some fit");
    Ok((fits, best))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_blobs(n_each: usize, seed: u64) -> (Tensor, [[f64; 2]; 3]) {
        let means = [[0.0, 0.0], [3.0, 1.0], [-1.0, 4.0]];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::StandardNormal;
        let mut rows = Vec::new();
        for (j, m) in means.iter().enumerate() {
            // Each component gets its own correlated, anisotropic covariance.
            let (a, b, c) = [(0.5, 0.2, 0.3), (0.3, -0.1, 0.6), (0.4, 0.0, 0.25)][j];
            for _ in 0..n_each {
                let (u, v): (f64, f64) = (rng.sample(normal), rng.sample(normal));
                rows.push(m[0] + a * u);
                rows.push(m[1] + b * u + c * v);
            }
        }
        (Tensor::from_slice(&rows).view([3 * n_each as i64, 2]), means)
    }

    #[test]
    fn recovers_a_known_mixture_and_bic_picks_three() {
        let (x, truth) = three_blobs(1000, 1);
        let (fits, best) = select_by_bic(&x, &[1, 2, 3, 4, 5, 6], &GmmConfig::default()).unwrap();
        assert_eq!(fits[best].0.components(), 3, "BIC: {:?}", fits.iter().map(|f| f.1).collect::<Vec<_>>());
        let g = &fits[best].0;
        for t in truth {
            let err = (0..3)
                .map(|k| ((g.mean(k)[0] - t[0]).powi(2) + (g.mean(k)[1] - t[1]).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min);
            assert!(err < 0.05, "mean {t:?} recovered within {err}");
        }
        for w in &g.weights {
            assert!((w - 1.0 / 3.0).abs() < 0.02, "{:?}", g.weights);
        }
        let labels = g.predict(&x);
        let first = labels[0];
        assert!(labels[..1000].iter().filter(|&&l| l == first).count() > 980, "one blob, one label");
    }

    #[test]
    fn bad_input_is_refused() {
        let x = Tensor::from_slice(&[1.0f64, f64::NAN, 2.0, 3.0]).view([2, 2]);
        assert!(fit_gmm(&x, 1, &GmmConfig::default()).unwrap_err().to_string().contains("NaN"));
        let x = Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu));
        assert!(fit_gmm(&x, 3, &GmmConfig::default()).unwrap_err().to_string().contains("cannot fit 3"));
    }
}
