/* atomvae C ABI — generated from src/ffi by safer-ffi; do not edit.
 * Regenerate: cargo run --release --features headers --bin atomvae-header
 *
 * Rules of this ABI (version 1):
 * - Status: every call that can fail returns AtomvaeStatus_t; on failure
 *   atomvae_last_error() copies the message of the calling thread's last call.
 * - Threads: any function may be called from any thread. A handle serialises
 *   the calls made on it (one at a time); separate handles run in parallel.
 * - Buffers: all outputs are allocated by the caller. Each function documents
 *   the size it needs; a smaller capacity returns ATOMVAE_STATUS_BUFFER_TOO_SMALL
 *   and writes nothing (counts and lengths are still set, so a first call with
 *   capacity 0 asks for the size; a size of 0 returns OK and a NULL buffer is
 *   accepted). Capacities count elements of the buffer's type (bytes for text).
 * - No overlap: output buffers must not overlap each other or any input;
 *   overlapping buffers are refused with INVALID_ARGUMENT.
 * - Arrays are row-major; float arrays f32 unless stated; positions (y, x) in
 *   pixels with (0, 0) the centre of the top-left pixel; angles in radians.
 * - Handles: created by *_new / *_load / *_train / *_open, released by the
 *   matching *_free (NULL ignored); a freed handle must not be used again.
 *   Inputs are only read during the call; nothing keeps a caller's pointer.
 * - Progress callbacks run on the calling thread; returning false cancels:
 *   the call returns ATOMVAE_STATUS_CANCELLED and produces no output.
 * - No call ever unwinds a panic into the caller (it becomes INTERNAL).
 */

#ifndef ATOMVAE_H
#define ATOMVAE_H
#ifdef __cplusplus
extern "C" {
#endif


#include <stddef.h>
#include <stdint.h>

/** \brief
 *  The ABI version this library implements: 1 for this header. A program
 *  checks it at start-up against the version it was written for.
 */
uint32_t
atomvae_abi_version (void);

/** \brief
 *  An analysis file, opened for reading (opaque).
 */
typedef struct AtomvaeAnalysis AtomvaeAnalysis_t;

/** \brief
 *  One row of an analysis file's atom table.
 */
typedef struct AtomvaeAtomRow {
    /** \brief
     *  Frame index (0-based) in the movie.
     */
    uint32_t frame;

    /** \brief
     *  Row (px of the stored frames), (0, 0) = centre of the top-left pixel.
     */
    float y;

    /** \brief
     *  Column (px).
     */
    float x;

    /** \brief
     *  Class index into the file's `class_names` (0 = background).
     */
    uint8_t class_id;

    /** \brief
     *  Mean probability of that class over the atom (0–1).
     */
    float confidence;
} AtomvaeAtomRow_t;

/** \brief
 *  Outcome of every call.
 */
/** \remark Has the same ABI as `int32_t` **/
#ifdef DOXYGEN
typedef
#endif
enum AtomvaeStatus {
    /** \brief
     *  Success.
     */
    ATOMVAE_STATUS_OK = 0,
    /** \brief
     *  A null pointer, an impossible shape or length, a NaN, an unusable setting.
     */
    ATOMVAE_STATUS_INVALID_ARGUMENT = 1,
    /** \brief
     *  A model file or buffer that is not a usable model of the expected kind.
     */
    ATOMVAE_STATUS_BAD_MODEL = 2,
    /** \brief
     *  Reading or writing a file failed.
     */
    ATOMVAE_STATUS_IO = 3,
    /** \brief
     *  The progress callback asked to stop; nothing was produced.
     */
    ATOMVAE_STATUS_CANCELLED = 4,
    /** \brief
     *  An output buffer is smaller than the result; nothing was written.
     */
    ATOMVAE_STATUS_BUFFER_TOO_SMALL = 5,
    /** \brief
     *  The requested device is not available (e.g. CUDA without a GPU).
     */
    ATOMVAE_STATUS_DEVICE_UNAVAILABLE = 6,
    /** \brief
     *  A bug inside atomvae (a caught panic); the message says where.
     */
    ATOMVAE_STATUS_INTERNAL = 7,
}
#ifndef DOXYGEN
; typedef int32_t
#endif
AtomvaeStatus_t;

/** \brief
 *  The atom table: up to `capacity` rows into `atoms`, their number into
 *  `*count` (0 when the file has no atoms yet; too small a buffer →
 *  `ATOMVAE_STATUS_BUFFER_TOO_SMALL` with only `*count` set).
 */
AtomvaeStatus_t
atomvae_analysis_atoms (
    AtomvaeAnalysis_t const * analysis,
    AtomvaeAtomRow_t * atoms,
    size_t capacity,
    size_t * count);

/** \brief
 *  Everything an analysis file holds, as JSON: `{"attributes": {…}, "groups":
 *  [{"path", "attributes"}], "datasets": [{"path", "dtype", "shape",
 *  "attributes"}]}` (dtype: numpy's name, e.g. "float32"; string attributes that
 *  hold JSON are left as strings).
 */
AtomvaeStatus_t
atomvae_analysis_contents_json (
    AtomvaeAnalysis_t const * analysis,
    uint8_t * buffer,
    size_t capacity,
    size_t * length);

/** \brief
 *  Copies the analysis file with its part files (its folder `<name>.parts`) to
 *  `path` (replaced atomically) and opens the copy into `*out`; free it with
 *  `atomvae_analysis_free`. A plain file copy of an analysis file lacks the parts.
 */
AtomvaeStatus_t
atomvae_analysis_copy (
    AtomvaeAnalysis_t const * analysis,
    char const * path,
    AtomvaeAnalysis_t * * out);

/** \brief
 *  A new analysis file at `path` (replaced atomically) from `count` frames of
 *  height × width px (f32, row-major) at `pixel_size` Å/px held in memory, opened
 *  for the steps of `atomvae_analysis_run`; free with `atomvae_analysis_free`.
 */
AtomvaeStatus_t
atomvae_analysis_create (
    float const * frames,
    size_t count,
    size_t height,
    size_t width,
    double pixel_size,
    char const * path,
    AtomvaeAnalysis_t * * out);

/** \brief
 *  Releases an analysis handle (NULL is ignored).
 */
void
atomvae_analysis_free (
    AtomvaeAnalysis_t * analysis);


#include <stdbool.h>

/** \brief
 *  A new analysis file at `out_path` from the movie at `movie_path` (the `import`
 *  step: .npy, .tif/.tiff, or .h5 with `dataset`), opened for the steps of
 *  `atomvae_analysis_run`. `pixel_size` ≤ 0 takes the movie's own (refused when it
 *  states none: atomvae never guesses). `progress` sees each frame; false cancels
 *  (nothing is written).
 */
AtomvaeStatus_t
atomvae_analysis_import (
    char const * movie_path,
    char const * dataset,
    char const * out_path,
    double pixel_size,
    bool (*progress)(double, char const *, void *),
    void * user_data,
    AtomvaeAnalysis_t * * out);

/** \brief
 *  Opens an analysis file (validated) for reading; free with `atomvae_analysis_free`.
 */
AtomvaeStatus_t
atomvae_analysis_open (
    char const * path,
    AtomvaeAnalysis_t * * out);

/** \brief
 *  The dataset at `path` (as listed by `atomvae_analysis_contents_json`, e.g.
 *  "/latents/mean") whole: little-endian bytes of its element type, row-major;
 *  `*length` receives the number of bytes.
 */
AtomvaeStatus_t
atomvae_analysis_read (
    AtomvaeAnalysis_t const * analysis,
    char const * path,
    uint8_t * buffer,
    size_t capacity,
    size_t * length);

/** \brief
 *  Moves the analysis file at `from` with its part files to `to`, replacing `to`
 *  atomically (the old `to` stays whole until the new one is in place). Close
 *  every handle on `from` first.
 */
AtomvaeStatus_t
atomvae_analysis_rename (
    char const * from,
    char const * to);

/** \brief
 *  A segmentation model (opaque).
 */
typedef struct AtomvaeSegmenter AtomvaeSegmenter_t;

/** \brief
 *  Where models run.
 */
/** \remark Has the same ABI as `int32_t` **/
#ifdef DOXYGEN
typedef
#endif
enum AtomvaeDevice {
    /** \brief
     *  CUDA when libtorch sees a GPU, else the CPU.
     */
    ATOMVAE_DEVICE_AUTO = 0,
    /** \brief
     *  The CPU, always available.
     */
    ATOMVAE_DEVICE_CPU = 1,
    /** \brief
     *  The first CUDA device; `DeviceUnavailable` without one.
     */
    ATOMVAE_DEVICE_CUDA = 2,
}
#ifndef DOXYGEN
; typedef int32_t
#endif
AtomvaeDevice_t;

/** \brief
 *  Runs one pipeline step on an open analysis file: `step` is "segment",
 *  "atoms", "subimages", "train-rvae", "encode" or "analysis" (each needs the
 *  ones before), with its part of `settings_json` (NULL: the "recipe" preset).
 *  "segment" uses `segmenter` (NULL: the embedded model). Each step replaces its
 *  results (and the file atomically); a failed or cancelled step leaves the file
 *  as it was.
 */
AtomvaeStatus_t
atomvae_analysis_run (
    AtomvaeAnalysis_t const * analysis,
    char const * step,
    char const * settings_json,
    AtomvaeSegmenter_t const * segmenter,
    AtomvaeDevice_t device,
    bool (*progress)(double, char const *, void *),
    void * user_data);

/** \brief
 *  The movie's shape (frames, height, width) and pixel size (Å/px).
 */
AtomvaeStatus_t
atomvae_analysis_shape (
    AtomvaeAnalysis_t const * analysis,
    size_t * frames,
    size_t * height,
    size_t * width,
    double * pixel_size);

/** \brief
 *  Takes the movie at `movie_path` (.npy, .tif/.tiff or an .h5 analysis/movie
 *  file) through every step — import, segmentation with `segmenter` (NULL: the
 *  embedded model), atoms, 4 Å windows, an rVAE trained for `rvae_epochs`
 *  epochs, encoding and the latent analysis — into the analysis file
 *  `out_path` (replaced atomically at each step). `pixel_size` ≤ 0 takes the
 *  pixel size from the movie's metadata. `progress` sees each step as a phase;
 *  returning false cancels (`ATOMVAE_STATUS_CANCELLED`; the file keeps the last
 *  completed step).
 */
AtomvaeStatus_t
atomvae_analyze_movie (
    char const * movie_path,
    char const * out_path,
    double pixel_size,
    AtomvaeSegmenter_t const * segmenter,
    uint32_t rvae_epochs,
    AtomvaeDevice_t device,
    bool (*progress)(double, char const *, void *),
    void * user_data);

/** \brief
 *  Like `atomvae_analyze_movie`, with every step's settings as JSON
 *  (`settings_json` NULL: the "recipe" preset; see `atomvae_settings_json`).
 */
AtomvaeStatus_t
atomvae_analyze_movie_json (
    char const * movie_path,
    char const * out_path,
    double pixel_size,
    char const * settings_json,
    AtomvaeSegmenter_t const * segmenter,
    AtomvaeDevice_t device,
    bool (*progress)(double, char const *, void *),
    void * user_data);

/** \brief
 *  One atom found in a probability map.
 */
typedef struct AtomvaeAtom {
    /** \brief
     *  Row (px), (0, 0) = centre of the top-left pixel.
     */
    float y;

    /** \brief
     *  Column (px).
     */
    float x;

    /** \brief
     *  Class index (1 = C, 2 = Si for the embedded model).
     */
    uint8_t class_id;

    /** \brief
     *  Mean probability of that class over the atom (0–1).
     */
    float confidence;
} AtomvaeAtom_t;

/** \brief
 *  The Si check of atom finding (`atomvae atoms --si-min-ratio`): every atom of
 *  `atoms` (found on `frame`, height × width f32, at `pixel_size` Å/px) whose class
 *  is Si but whose intensity is below `min_ratio` × the median of the atoms within
 *  5 Å becomes C, in place; `*changed` (may be NULL) says how many. `min_ratio` 2 is
 *  the library's default; 0 changes nothing. Call it after `atomvae_find_atoms` when
 *  the frame is at hand, so that the atoms match those of the `atoms` step.
 */
AtomvaeStatus_t
atomvae_check_silicon (
    float const * frame,
    size_t height,
    size_t width,
    double pixel_size,
    double min_ratio,
    AtomvaeAtom_t * atoms,
    size_t count,
    size_t * changed);

/** \brief
 *  True when libtorch sees a CUDA device.
 */
bool
atomvae_cuda_available (void);

/** \brief
 *  Windows of window × window px around `count` centres (y, x pairs in px) of a
 *  height × width image, into count × window × window values. Centres are
 *  rounded to the nearest pixel, or interpolated with `bilinear`; windows that
 *  cross the image edge are completed with zeros.
 */
AtomvaeStatus_t
atomvae_cut_windows (
    float const * image,
    size_t height,
    size_t width,
    float const * centres,
    size_t count,
    size_t window,
    bool bilinear,
    float * windows,
    size_t capacity);

/** \brief
 *  Atoms in class probabilities (classes × height × width, background first):
 *  blobs where 1 − p(background) > `threshold`, centroids, class by mass, atoms
 *  closer than `border_px` to the edge dropped. Writes up to `capacity` atoms and
 *  their number to `*count`; with too small a buffer (e.g. capacity 0) only
 *  `*count` is set and the status is `BufferTooSmall`.
 */
AtomvaeStatus_t
atomvae_find_atoms (
    float const * probabilities,
    size_t classes,
    size_t height,
    size_t width,
    double pixel_size,
    double threshold,
    double border_px,
    AtomvaeAtom_t * atoms,
    size_t capacity,
    size_t * count);

/** \brief
 *  Copies the message of the last failed call on this thread (NUL-terminated,
 *  truncated to `capacity`) into `buffer` and returns its full length including
 *  the NUL. `buffer` may be NULL with `capacity` 0 to ask for the length. An
 *  empty message (length 1) means the last call succeeded.
 */
size_t
atomvae_last_error (
    uint8_t * buffer,
    size_t capacity);

/** \brief
 *  The shape (frames, height, width) of the movie at `movie_path` (.npy, .tif/.tiff,
 *  or .h5 with `dataset`, NULL: "frames") and the pixel size its own metadata
 *  states (Å/px), or 0 when it states none. Nothing is read but the headers.
 */
AtomvaeStatus_t
atomvae_movie_info (
    char const * movie_path,
    char const * dataset,
    size_t * frames,
    size_t * height,
    size_t * width,
    double * pixel_size);

/** \brief
 *  An rVAE model (opaque).
 */
typedef struct AtomvaeRvae AtomvaeRvae_t;

/** \brief
 *  The model's configuration as JSON: `{"config": {…}, "training": {…} | null}`
 *  (`training`: the epochs' −ELBO terms and speed, for a model trained in this
 *  process).
 */
AtomvaeStatus_t
atomvae_rvae_config_json (
    AtomvaeRvae_t const * rvae,
    uint8_t * buffer,
    size_t capacity,
    size_t * length);

/** \brief
 *  Decodes `count` latent vectors of `columns` values (the content latents only,
 *  or angle, dx, dy and the content latents) into count × window × window values;
 *  with `with_pose` false the angle and shift are ignored.
 */
AtomvaeStatus_t
atomvae_rvae_decode (
    AtomvaeRvae_t const * rvae,
    float const * latents,
    size_t count,
    size_t columns,
    bool with_pose,
    float * windows,
    size_t capacity);

/** \brief
 *  Settings of `atomvae_rvae_train`; start from `atomvae_rvae_default_settings()`.
 */
typedef struct AtomvaeRvaeSettings {
    /** \brief
     *  Passes over the training windows.
     */
    uint32_t epochs;

    /** \brief
     *  Windows per optimiser step.
     */
    uint32_t batch;

    /** \brief
     *  Adam's learning rate (0 < lr ≤ 10).
     */
    double learning_rate;

    /** \brief
     *  Fraction of windows held out for the held-out −ELBO (0 ≤ f < 1).
     */
    double holdout_fraction;

    /** \brief
     *  Content latents (≥ 1).
     */
    uint32_t latent_dim;

    /** \brief
     *  Whether (dx, dy) are latents.
     */
    bool translation;

    /** \brief
     *  Encode and reconstruct only the disc inscribed in each window.
     */
    bool disc;

    /** \brief
     *  Epochs at the start during which the content KL weighs `kl_warmup_weight`.
     */
    uint32_t kl_warmup_epochs;

    /** \brief
     *  Weight of the content KL during the warm-up (1 = no warm-up).
     */
    double kl_warmup_weight;

    /** \brief
     *  Seed of the weights, the split and the shuffling: equal seeds, equal models.
     */
    uint64_t seed;
} AtomvaeRvaeSettings_t;

/** \brief
 *  The defaults of `atomvae rvae train` (the paper's settings).
 */
AtomvaeRvaeSettings_t
atomvae_rvae_default_settings (void);

/** \brief
 *  Posterior means and log-variances of `count` windows into `mean` and
 *  `logvar`, each count × `atomvae_rvae_latent_columns` values.
 */
AtomvaeStatus_t
atomvae_rvae_encode (
    AtomvaeRvae_t const * rvae,
    float const * windows,
    size_t count,
    size_t window,
    float * mean,
    float * logvar,
    size_t capacity);

/** \brief
 *  Releases an rVAE (NULL is ignored).
 */
void
atomvae_rvae_free (
    AtomvaeRvae_t * rvae);

/** \brief
 *  Latent columns per window: angle, dx, dy, then the content latents (0 for NULL).
 */
size_t
atomvae_rvae_latent_columns (
    AtomvaeRvae_t const * rvae);

/** \brief
 *  An rVAE from a model file written by `atomvae_rvae_save` (or an analysis file's
 *  `/models/rvae`).
 */
AtomvaeStatus_t
atomvae_rvae_load (
    char const * path,
    AtomvaeDevice_t device,
    AtomvaeRvae_t * * out);

/** \brief
 *  Windows decoded on an n × n grid of the first two content latents (rows: z2,
 *  columns: z1, at the 5–95 % quantiles of the prior): n × n × window × window
 *  values.
 */
AtomvaeStatus_t
atomvae_rvae_manifold (
    AtomvaeRvae_t const * rvae,
    size_t n,
    float * windows,
    size_t capacity);

/** \brief
 *  Writes the model to `path` (an HDF5 model file, replaced atomically).
 */
AtomvaeStatus_t
atomvae_rvae_save (
    AtomvaeRvae_t const * rvae,
    char const * path);

/** \brief
 *  Trains an rVAE on `count` windows of window × window px (f32, row-major) and
 *  returns it in `*out` (free with `atomvae_rvae_free`). `settings` NULL means
 *  the defaults. `progress` may be NULL; returning false from it cancels
 *  (`Cancelled`, `*out` untouched).
 */
AtomvaeStatus_t
atomvae_rvae_train (
    float const * windows,
    size_t count,
    size_t window,
    AtomvaeRvaeSettings_t const * settings,
    AtomvaeDevice_t device,
    bool (*progress)(double, char const *, void *),
    void * user_data,
    AtomvaeRvae_t * * out);

/** \brief
 *  Like `atomvae_rvae_train`, with settings as JSON (`settings_json` NULL: the
 *  "recipe" preset): its `rvae` and `training` parts are used, e.g.
 *  `{"preset": "paper", "training": {"epochs": 5, "seed": 3}}`. The window
 *  edge comes from `window`.
 */
AtomvaeStatus_t
atomvae_rvae_train_json (
    float const * windows,
    size_t count,
    size_t window,
    char const * settings_json,
    AtomvaeDevice_t device,
    bool (*progress)(double, char const *, void *),
    void * user_data,
    AtomvaeRvae_t * * out);

/** \brief
 *  The window edge (px) the model takes, or 0 for NULL.
 */
size_t
atomvae_rvae_window (
    AtomvaeRvae_t const * rvae);

/** \brief
 *  Class probabilities of one frame (height × width, `pixel_size` Å/px) into
 *  `probabilities`: classes × height × width values (see
 *  `atomvae_segmenter_classes`), each pixel's summing to 1.
 */
AtomvaeStatus_t
atomvae_segment_frame (
    AtomvaeSegmenter_t const * segmenter,
    float const * frame,
    size_t height,
    size_t width,
    double pixel_size,
    float * probabilities,
    size_t capacity);

/** \brief
 *  Class probabilities of a stack of `count` frames (count × height × width) into
 *  `probabilities` (count × classes × height × width), frame by frame with
 *  progress; returning false from `progress` cancels (`ATOMVAE_STATUS_CANCELLED`,
 *  nothing written).
 */
AtomvaeStatus_t
atomvae_segment_stack (
    AtomvaeSegmenter_t const * segmenter,
    float const * frames,
    size_t count,
    size_t height,
    size_t width,
    double pixel_size,
    float * probabilities,
    size_t capacity,
    bool (*progress)(double, char const *, void *),
    void * user_data);

/** \brief
 *  Classes the model predicts (background first), or 0 for NULL.
 */
size_t
atomvae_segmenter_classes (
    AtomvaeSegmenter_t const * segmenter);

/** \brief
 *  The segmentation model's configuration as JSON (class names, working pixel
 *  size, architecture, how it was trained).
 */
AtomvaeStatus_t
atomvae_segmenter_config_json (
    AtomvaeSegmenter_t const * segmenter,
    uint8_t * buffer,
    size_t capacity,
    size_t * length);

/** \brief
 *  Releases a segmentation model (NULL is ignored).
 */
void
atomvae_segmenter_free (
    AtomvaeSegmenter_t * segmenter);

/** \brief
 *  A segmentation model: the embedded default (`model_path` NULL) or one loaded
 *  from a model file (`.h5` from `atomvae train-segmenter`, or compact bytes).
 *  On success `*out` holds a handle to free with `atomvae_segmenter_free`.
 */
AtomvaeStatus_t
atomvae_segmenter_new (
    char const * model_path,
    AtomvaeDevice_t device,
    AtomvaeSegmenter_t * * out);

/** \brief
 *  Threads libtorch uses for every later atomvae call of this process, on any
 *  calling thread (n ≥ 1).
 */
AtomvaeStatus_t
atomvae_set_threads (
    int32_t n);

/** \brief
 *  The full settings of the pipeline (`atoms`, `windows`, `rvae`, `training`,
 *  `analysis`) as JSON for the preset `preset` ("recipe", the default when NULL,
 *  or "paper"). Pass them back, changed or partial, to the `*_json` calls.
 */
AtomvaeStatus_t
atomvae_settings_json (
    char const * preset,
    uint8_t * buffer,
    size_t capacity,
    size_t * length);

/** \brief
 *  A simulated movie of Si-doped graphene with its ground truth into `out_path`
 *  (`.h5`, itself an analysis file ready for every step; or `.npy`/`.tif`).
 *  `settings_json` (NULL: defaults) may hold `"simulation"` (frame size, pixel
 *  size, holes, dopants, dose …) and `"movie"` (frames, dynamics) objects; unknown
 *  fields are refused. Cancelling leaves nothing at `out_path`.
 */
AtomvaeStatus_t
atomvae_simulate_movie (
    char const * settings_json,
    uint64_t seed,
    char const * out_path,
    bool (*progress)(double, char const *, void *),
    void * user_data);

/** \brief
 *  The library version, e.g. "0.1.0" (static; do not free).
 */
char const *
atomvae_version (void);


#ifdef __cplusplus
} /* extern \"C\" */
#endif

#endif /* ATOMVAE_H */
