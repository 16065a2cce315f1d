/* Exercises every function of include/atomvae.h, including each error path.
 * Built and run by tests/c_abi.rs (optionally under AddressSanitizer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomvae.h"

static int failures = 0;
#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            char msg[512];                                                         \
            atomvae_last_error((uint8_t *)msg, sizeof msg);                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, \
                    __LINE__, #cond, msg);                                         \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static int last_error_contains(const char *needle) {
    size_t len = atomvae_last_error(NULL, 0);
    char *msg = malloc(len);
    atomvae_last_error((uint8_t *)msg, len);
    int found = strstr(msg, needle) != NULL;
    if (!found) fprintf(stderr, "last error \"%s\" lacks \"%s\"\n", msg, needle);
    free(msg);
    return found;
}

typedef struct { int calls; int stop_after; double last_fraction; } Progress;

static bool on_progress(double fraction, char const *phase, void *user) {
    Progress *p = user;
    p->calls++;
    p->last_fraction = fraction;
    (void)phase;
    return p->stop_after < 0 || p->calls < p->stop_after;
}

/* Blobs on a 0.2 Å/px grid, 1.42 Å apart in rows (a crude lattice). */
static void make_frame(float *f, size_t h, size_t w) {
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            double v = 0.05;
            for (int cy = 6; cy < (int)h; cy += 11)
                for (int cx = 4 + (cy / 11 % 2) * 6; cx < (int)w; cx += 12) {
                    double d2 = (y - cy) * (y - cy) + (x - (double)cx) * (x - (double)cx);
                    v += exp(-d2 / 6.0);
                }
            f[y * w + x] = (float)v;
        }
}

static void make_windows(float *win, size_t n, size_t w) {
    for (size_t k = 0; k < n; k++) {
        double a = 0.37 * k, c = (w - 1) / 2.0;
        for (size_t y = 0; y < w; y++)
            for (size_t x = 0; x < w; x++) {
                double by = c + 3.0 * sin(a), bx = c + 3.0 * cos(a);
                double d2 = (y - by) * (y - by) + (x - bx) * (x - bx);
                double d0 = (y - c) * (y - c) + (x - c) * (x - c);
                win[(k * w + y) * w + x] = (float)(exp(-d2 / 3.0) + exp(-d0 / 3.0));
            }
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    /* Versions, errors, settings. */
    CHECK(atomvae_abi_version() == 1);
    CHECK(strlen(atomvae_version()) > 0);
    CHECK(atomvae_set_threads(0) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("at least 1"));
    char small[4];
    size_t full = atomvae_last_error((uint8_t *)small, sizeof small);
    CHECK(full > sizeof small && small[3] == '\0');
    CHECK(atomvae_set_threads(2) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_last_error(NULL, 0) == 1); /* success clears the message */
    (void)atomvae_cuda_available();

    /* Segmentation. */
    AtomvaeSegmenter_t *seg = NULL;
    CHECK(atomvae_segmenter_new(NULL, ATOMVAE_DEVICE_CPU, &seg) == ATOMVAE_STATUS_OK && seg != NULL);
    CHECK(atomvae_segmenter_new(NULL, ATOMVAE_DEVICE_CPU, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeSegmenter_t *missing = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/no-such-model.h5", dir);
    CHECK(atomvae_segmenter_new(path, ATOMVAE_DEVICE_CPU, &missing) != ATOMVAE_STATUS_OK && missing == NULL);
    CHECK(last_error_contains("no-such-model.h5"));
    size_t classes = atomvae_segmenter_classes(seg);
    CHECK(classes == 3);
    CHECK(atomvae_segmenter_classes(NULL) == 0);
    enum { H = 64, W = 80 };
    float *frame = malloc(sizeof(float) * H * W);
    float *probs = malloc(sizeof(float) * classes * H * W);
    make_frame(frame, H, W);
    CHECK(atomvae_segment_frame(seg, frame, H, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_OK);
    double sum = 0;
    for (size_t c = 0; c < classes; c++) sum += probs[c * H * W + 7 * W + 9];
    CHECK(fabs(sum - 1.0) < 1e-3);
    CHECK(atomvae_segment_frame(seg, frame, H, W, 0.2, probs, classes * H * W - 1) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    CHECK(atomvae_segment_frame(seg, NULL, H, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_segment_frame(seg, frame, 0, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_segment_frame(NULL, frame, H, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    frame[5] = NAN;
    CHECK(atomvae_segment_frame(seg, frame, H, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    frame[5] = 0.0f;
    CHECK(atomvae_segment_frame(seg, frame, H, W, -1.0, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    /* Found by fuzzing: a subnormal pixel size once asked for an impossible resampling. */
    CHECK(atomvae_segment_frame(seg, frame, H, W, 1e-40, probs, classes * H * W) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("0.005"));

    /* A stack of two frames, with progress; a cancel writes nothing. */
    CHECK(atomvae_segment_frame(seg, frame, H, W, 0.2, probs, classes * H * W) == ATOMVAE_STATUS_OK);
    float *stack = malloc(sizeof(float) * 2 * H * W);
    memcpy(stack, frame, sizeof(float) * H * W);
    memcpy(stack + H * W, frame, sizeof(float) * H * W);
    float *stack_probs = malloc(sizeof(float) * 2 * classes * H * W);
    Progress frames_done = {0, -1, 0.0};
    CHECK(atomvae_segment_stack(seg, stack, 2, H, W, 0.2, stack_probs, 2 * classes * H * W, on_progress, &frames_done) == ATOMVAE_STATUS_OK);
    CHECK(frames_done.calls == 3 && frames_done.last_fraction == 1.0);
    CHECK(memcmp(stack_probs, probs, sizeof(float) * classes * H * W) == 0); /* same as one frame at a time */
    for (size_t i = 0; i < 2 * classes * H * W; i++) stack_probs[i] = -1.0f;
    Progress cancel_stack = {0, 2, 0.0};
    CHECK(atomvae_segment_stack(seg, stack, 2, H, W, 0.2, stack_probs, 2 * classes * H * W, on_progress, &cancel_stack) == ATOMVAE_STATUS_CANCELLED);
    CHECK(stack_probs[0] == -1.0f && stack_probs[2 * classes * H * W - 1] == -1.0f);
    CHECK(atomvae_segment_stack(seg, stack, 0, H, W, 0.2, stack_probs, 2 * classes * H * W, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    free(stack);
    free(stack_probs);

    /* Atoms: a size query, then the real call. */
    size_t count = 0;
    CHECK(atomvae_find_atoms(probs, classes, H, W, 0.2, 0.5, 0.0, NULL, 0, &count) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    CHECK(count > 0);
    /* A map without atoms: the size query answers 0 with OK (a NULL buffer is fine). */
    float *empty = calloc(classes * H * W, sizeof(float));
    for (size_t i = 0; i < (size_t)(H * W); i++) empty[i] = 1.0f; /* all background */
    size_t no_atoms = 99;
    CHECK(atomvae_find_atoms(empty, classes, H, W, 0.2, 0.5, 0.0, NULL, 0, &no_atoms) == ATOMVAE_STATUS_OK && no_atoms == 0);
    free(empty);
    AtomvaeAtom_t *atoms = calloc(count + 1, sizeof *atoms);
    size_t again = 0;
    CHECK(atomvae_find_atoms(probs, classes, H, W, 0.2, 0.5, 0.0, atoms, count + 1, &again) == ATOMVAE_STATUS_OK);
    CHECK(again == count);
    for (size_t i = 0; i < count; i++) CHECK(atoms[i].y >= 0 && atoms[i].y < H && atoms[i].class_id >= 1);
    CHECK(atomvae_find_atoms(probs, classes, H, W, 0.2, 0.5, 0.0, atoms, count + 1, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_find_atoms(probs, 1, H, W, 0.2, 0.5, 0.0, atoms, count + 1, &again) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_find_atoms(probs, classes, H, W, 0.2, 1.5, 0.0, atoms, count + 1, &again) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    /* The Si check: an atom called Si but no brighter than the atoms around it (within
       5 Å = 25 px here) becomes C. */
    size_t planted = count;
    for (size_t i = 0; i < count && planted == count; i++) {
        int near = 0;
        for (size_t j = 0; j < count; j++)
            near += j != i && hypot(atoms[i].y - atoms[j].y, atoms[i].x - atoms[j].x) < 25.0;
        if (near >= 2) planted = i;
    }
    CHECK(planted < count);
    for (size_t i = 0; i < count; i++) atoms[i].class_id = 1;
    atoms[planted].class_id = 2;
    size_t changed = 99;
    CHECK(atomvae_check_silicon(frame, H, W, 0.2, 2.0, atoms, count, &changed) == ATOMVAE_STATUS_OK);
    CHECK(changed == 1 && atoms[planted].class_id == 1);
    atoms[planted].class_id = 2;
    CHECK(atomvae_check_silicon(frame, H, W, 0.2, 0.0, atoms, count, &changed) == ATOMVAE_STATUS_OK);
    CHECK(changed == 0 && atoms[planted].class_id == 2); /* ratio 0: the network alone */
    CHECK(atomvae_check_silicon(frame, H, W, 0.2, -1.0, atoms, count, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_check_silicon(NULL, H, W, 0.2, 2.0, atoms, count, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    /* Windows around the atoms (zero-padded at the edges). */
    enum { CW = 9 };
    float centres[4] = {10.0f, 12.0f, 1.0f, 1.0f};
    float *cut = malloc(sizeof(float) * 2 * CW * CW);
    CHECK(atomvae_cut_windows(frame, H, W, centres, 2, CW, false, cut, 2 * CW * CW) == ATOMVAE_STATUS_OK);
    CHECK(cut[4 * CW + 4] == frame[10 * W + 12]); /* the centre pixel is the atom's */
    CHECK(cut[CW * CW] == 0.0f);                   /* padding beyond the top-left corner */
    CHECK(atomvae_cut_windows(frame, H, W, centres, 2, CW, true, cut, 2 * CW * CW - 1) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    CHECK(atomvae_cut_windows(frame, H, W, NULL, 2, CW, false, cut, 2 * CW * CW) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_cut_windows(frame, H, W, centres, 2, 0, false, cut, 2 * CW * CW) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    centres[0] = NAN;
    CHECK(atomvae_cut_windows(frame, H, W, centres, 2, CW, false, cut, 2 * CW * CW) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    free(cut);

    free(atoms);
    atomvae_segmenter_free(seg);
    atomvae_segmenter_free(NULL);

    /* rVAE: train with progress, cancel, encode, decode, manifold, save, load. */
    enum { N = 120, WIN = 12 };
    float *windows = malloc(sizeof(float) * N * WIN * WIN);
    make_windows(windows, N, WIN);
    AtomvaeRvaeSettings_t s = atomvae_rvae_default_settings();
    CHECK(s.epochs == 30 && s.latent_dim == 2);
    s.epochs = 2;
    s.batch = 40;
    s.learning_rate = 1e-3;
    Progress p = {0, -1, 0.0};
    AtomvaeRvae_t *rvae = NULL;
    CHECK(atomvae_rvae_train(windows, N, WIN, &s, ATOMVAE_DEVICE_CPU, on_progress, &p, &rvae) == ATOMVAE_STATUS_OK);
    CHECK(rvae != NULL && p.calls > 2 && fabs(p.last_fraction - 1.0) < 1e-9);
    Progress stop = {0, 2, 0.0};
    AtomvaeRvae_t *cancelled = NULL;
    CHECK(atomvae_rvae_train(windows, N, WIN, &s, ATOMVAE_DEVICE_CPU, on_progress, &stop, &cancelled) == ATOMVAE_STATUS_CANCELLED);
    CHECK(cancelled == NULL && stop.calls == 2);
    CHECK(atomvae_rvae_train(windows, N, WIN, &s, ATOMVAE_DEVICE_CPU, NULL, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_rvae_train(NULL, N, WIN, &s, ATOMVAE_DEVICE_CPU, NULL, NULL, &cancelled) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeRvaeSettings_t bad = s;
    bad.holdout_fraction = 1.5;
    CHECK(atomvae_rvae_train(windows, N, WIN, &bad, ATOMVAE_DEVICE_CPU, NULL, NULL, &cancelled) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    /* Found by fuzzing: a learning rate beyond f32 once overflowed inside the optimiser. */
    bad = s;
    bad.learning_rate = 1e300;
    CHECK(atomvae_rvae_train(windows, N, WIN, &bad, ATOMVAE_DEVICE_CPU, NULL, NULL, &cancelled) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_rvae_window(rvae) == WIN && atomvae_rvae_window(NULL) == 0);
    size_t cols = atomvae_rvae_latent_columns(rvae);
    CHECK(cols == 5);
    float *mean = malloc(sizeof(float) * N * cols), *logvar = malloc(sizeof(float) * N * cols);
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN, mean, logvar, N * cols) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN, mean, logvar, N * cols - 1) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    /* The same buffer for both outputs, or an output over the input, is refused. */
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN, mean, mean, N * cols) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN, windows, logvar, N * cols) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN + 1, mean, logvar, N * cols) != ATOMVAE_STATUS_OK);
    float *decoded = malloc(sizeof(float) * N * WIN * WIN);
    CHECK(atomvae_rvae_decode(rvae, mean, N, cols, true, decoded, N * WIN * WIN) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_decode(rvae, mean, N, 4, true, decoded, N * WIN * WIN) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    mean[0] = NAN;
    CHECK(atomvae_rvae_decode(rvae, mean, N, cols, true, decoded, N * WIN * WIN) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    float *grid = malloc(sizeof(float) * 3 * 3 * WIN * WIN);
    CHECK(atomvae_rvae_manifold(rvae, 3, grid, 3 * 3 * WIN * WIN) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_manifold(rvae, 1, grid, 3 * 3 * WIN * WIN) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    snprintf(path, sizeof path, "%s/rvae.h5", dir);
    CHECK(atomvae_rvae_save(rvae, path) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_save(rvae, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeRvae_t *loaded = NULL;
    CHECK(atomvae_rvae_load(path, ATOMVAE_DEVICE_CPU, &loaded) == ATOMVAE_STATUS_OK && loaded != NULL);
    float *mean2 = malloc(sizeof(float) * N * cols), *logvar2 = malloc(sizeof(float) * N * cols);
    CHECK(atomvae_rvae_encode(rvae, windows, N, WIN, mean, logvar, N * cols) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_encode(loaded, windows, N, WIN, mean2, logvar2, N * cols) == ATOMVAE_STATUS_OK);
    CHECK(memcmp(mean, mean2, sizeof(float) * N * cols) == 0);
    snprintf(path, sizeof path, "%s/not-a-model.h5", dir);
    FILE *junk = fopen(path, "w");
    fputs("junk", junk);
    fclose(junk);
    AtomvaeRvae_t *none = NULL;
    CHECK(atomvae_rvae_load(path, ATOMVAE_DEVICE_CPU, &none) != ATOMVAE_STATUS_OK && none == NULL);
    CHECK(last_error_contains("not-a-model.h5"));
    atomvae_rvae_free(loaded);
    atomvae_rvae_free(rvae);
    atomvae_rvae_free(NULL);

    /* The whole pipeline on a movie (written by the test harness), then the file. */
    char movie[1024], analysis_path[1024];
    snprintf(movie, sizeof movie, "%s/movie.h5", dir);
    snprintf(analysis_path, sizeof analysis_path, "%s/analysis.h5", dir);
    Progress stop_early = {0, 1, 0.0};
    CHECK(atomvae_analyze_movie(movie, analysis_path, 0.0, NULL, 1, ATOMVAE_DEVICE_CPU, on_progress, &stop_early) == ATOMVAE_STATUS_CANCELLED);
    Progress steps = {0, -1, 0.0};
    CHECK(atomvae_analyze_movie(movie, analysis_path, 0.0, NULL, 1, ATOMVAE_DEVICE_CPU, on_progress, &steps) == ATOMVAE_STATUS_OK);
    CHECK(steps.calls > 10);
    CHECK(atomvae_analyze_movie(NULL, analysis_path, 0.0, NULL, 1, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_analyze_movie(movie, analysis_path, 0.0, NULL, 0, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeAnalysis_t *analysis = NULL;
    CHECK(atomvae_analysis_open(analysis_path, &analysis) == ATOMVAE_STATUS_OK && analysis != NULL);
    size_t nf = 0, fh = 0, fw = 0;
    double fpx = 0;
    CHECK(atomvae_analysis_shape(analysis, &nf, &fh, &fw, &fpx) == ATOMVAE_STATUS_OK);
    CHECK(nf == 2 && fh == 96 && fw == 96 && fabs(fpx - 0.2) < 1e-12);
    CHECK(atomvae_analysis_shape(analysis, &nf, NULL, &fw, &fpx) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    size_t rows = 0;
    CHECK(atomvae_analysis_atoms(analysis, NULL, 0, &rows) == ATOMVAE_STATUS_BUFFER_TOO_SMALL && rows > 50);
    AtomvaeAtomRow_t *table = calloc(rows, sizeof *table);
    CHECK(atomvae_analysis_atoms(analysis, table, rows, &rows) == ATOMVAE_STATUS_OK);
    CHECK(table[rows - 1].frame == 1 && table[0].confidence > 0.0f);
    free(table);
    atomvae_analysis_free(analysis);
    atomvae_analysis_free(NULL);
    AtomvaeAnalysis_t *not_one = NULL;
    CHECK(atomvae_analysis_open(movie, &not_one) == ATOMVAE_STATUS_OK); /* a simulated movie is a valid file */
    atomvae_analysis_free(not_one);
    CHECK(atomvae_analysis_open(path, &not_one) == ATOMVAE_STATUS_IO); /* the junk file */

    /* Settings as JSON: a size query, the text, presets, refused fields. */
    size_t text_len = 0;
    CHECK(atomvae_settings_json(NULL, NULL, 0, &text_len) == ATOMVAE_STATUS_BUFFER_TOO_SMALL && text_len > 100);
    char *text = malloc(text_len);
    CHECK(atomvae_settings_json("paper", (uint8_t *)text, text_len, &text_len) == ATOMVAE_STATUS_OK);
    CHECK(strstr(text, "\"size_angstrom\":4.0") != NULL && text[text_len - 1] == '\0');
    free(text);
    CHECK(atomvae_settings_json("fastest", NULL, 0, &text_len) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_settings_json(NULL, NULL, 0, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeRvae_t *json_rvae = NULL;
    CHECK(atomvae_rvae_train_json(windows, N, WIN, "{\"training\": {\"epochs\": 1, \"seed\": 2}}", ATOMVAE_DEVICE_CPU, NULL, NULL, &json_rvae) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_rvae_train_json(windows, N, WIN, "{\"training\": {\"epoch\": 1}}", ATOMVAE_DEVICE_CPU, NULL, NULL, &none) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("unknown field"));
    CHECK(atomvae_rvae_train_json(windows, N, WIN, "not json", ATOMVAE_DEVICE_CPU, NULL, NULL, &none) == ATOMVAE_STATUS_INVALID_ARGUMENT && none == NULL);
    char described[4096];
    CHECK(atomvae_rvae_config_json(json_rvae, (uint8_t *)described, sizeof described, &text_len) == ATOMVAE_STATUS_OK);
    CHECK(strstr(described, "\"disc\":true") != NULL && strstr(described, "\"training\":{") != NULL);
    atomvae_rvae_free(json_rvae);
    AtomvaeSegmenter_t *seg2 = NULL;
    CHECK(atomvae_segmenter_new(NULL, ATOMVAE_DEVICE_CPU, &seg2) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_segmenter_config_json(seg2, (uint8_t *)described, sizeof described, &text_len) == ATOMVAE_STATUS_OK);
    CHECK(strstr(described, "\"class_names\":[\"background\",\"C\",\"Si\"]") != NULL);
    CHECK(atomvae_segmenter_config_json(seg2, (uint8_t *)described, 3, &text_len) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);

    /* A simulated movie, an analysis file made from frames in memory, steps run on it, everything read back. */
    char sim_path[1024], session_path[1024];
    snprintf(sim_path, sizeof sim_path, "%s/simulated.h5", dir);
    snprintf(session_path, sizeof session_path, "%s/session.h5", dir);
    CHECK(atomvae_simulate_movie("{\"simulation\": {\"height\": 96, \"width\": 96, \"pixel_size\": 0.2}, \"movie\": {\"frames\": 2}}", 3, sim_path, NULL, NULL) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_simulate_movie("{\"simulation\": {\"colour\": 1}}", 3, sim_path, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeAnalysis_t *session = NULL;
    CHECK(atomvae_analysis_create(frame, 1, H, W, 0.2, session_path, &session) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_analysis_create(frame, 1, H, W, -1.0, session_path, &not_one) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(atomvae_analysis_run(session, "atoms", NULL, NULL, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("segment"));
    CHECK(atomvae_analysis_run(session, "dance", NULL, NULL, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    Progress stop_segment = {0, 1, 0.0};
    CHECK(atomvae_analysis_run(session, "segment", NULL, seg2, ATOMVAE_DEVICE_CPU, on_progress, &stop_segment) == ATOMVAE_STATUS_CANCELLED);
    CHECK(atomvae_analysis_run(session, "segment", NULL, seg2, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_analysis_run(session, "atoms", "{\"atoms\": {\"border\": 4.0}}", NULL, ATOMVAE_DEVICE_CPU, NULL, NULL) == ATOMVAE_STATUS_OK);
    size_t contents_len = 0;
    CHECK(atomvae_analysis_contents_json(session, NULL, 0, &contents_len) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    char *contents = malloc(contents_len);
    CHECK(atomvae_analysis_contents_json(session, (uint8_t *)contents, contents_len, &contents_len) == ATOMVAE_STATUS_OK);
    CHECK(strstr(contents, "\"/atoms/x\"") != NULL && strstr(contents, "\"/probabilities\"") != NULL);
    free(contents);
    size_t bytes = 0;
    CHECK(atomvae_analysis_read(session, "/frames", NULL, 0, &bytes) == ATOMVAE_STATUS_BUFFER_TOO_SMALL && bytes == sizeof(float) * H * W);
    float *read_back = malloc(bytes);
    CHECK(atomvae_analysis_read(session, "/frames", (uint8_t *)read_back, bytes, &bytes) == ATOMVAE_STATUS_OK);
    CHECK(memcmp(read_back, frame, bytes) == 0);
    free(read_back);
    CHECK(atomvae_analysis_read(session, "/nothing", NULL, 0, &bytes) == ATOMVAE_STATUS_IO);
    /* A copy with its part files, then an attempt moved over it. */
    char copy_path[4200], moved_path[4200];
    snprintf(copy_path, sizeof copy_path, "%s/copy.h5", dir);
    snprintf(moved_path, sizeof moved_path, "%s/moved.h5", dir);
    AtomvaeAnalysis_t *copy = NULL;
    CHECK(atomvae_analysis_copy(session, copy_path, &copy) == ATOMVAE_STATUS_OK && copy != NULL);
    CHECK(atomvae_analysis_copy(NULL, copy_path, &copy) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    size_t copied_atoms = 0, session_atoms = 0;
    CHECK(atomvae_analysis_atoms(copy, NULL, 0, &copied_atoms) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    CHECK(atomvae_analysis_atoms(session, NULL, 0, &session_atoms) == ATOMVAE_STATUS_BUFFER_TOO_SMALL);
    CHECK(copied_atoms == session_atoms && copied_atoms > 0);
    atomvae_analysis_free(copy);
    CHECK(atomvae_analysis_rename(copy_path, moved_path) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_analysis_rename(copy_path, moved_path) == ATOMVAE_STATUS_IO);
    CHECK(atomvae_analysis_rename(NULL, moved_path) == ATOMVAE_STATUS_INVALID_ARGUMENT);
    AtomvaeAnalysis_t *moved = NULL;
    CHECK(atomvae_analysis_open(moved_path, &moved) == ATOMVAE_STATUS_OK);
    CHECK(atomvae_analysis_read(moved, "/frames", NULL, 0, &bytes) == ATOMVAE_STATUS_BUFFER_TOO_SMALL && bytes == sizeof(float) * H * W);
    atomvae_analysis_free(moved);
    atomvae_analysis_free(session);
    atomvae_segmenter_free(seg2);

    free(frame); free(probs); free(windows); free(mean); free(logvar); free(mean2); free(logvar2);
    free(decoded); free(grid);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all C ABI checks passed\n");
    return 0;
}
