// The C++ facade (include/atomvae.hpp): objects, exceptions, vectors.
// Built and run by tests/cxx_facade.rs.
#include <cmath>
#include <exception>
#include <cstdio>
#include <string>
#include <vector>

#include "atomvae.hpp"

static int failures = 0;
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

template <typename F>
static std::string error_of(F f) {
    try {
        f();
    } catch (const std::exception &e) {
        return e.what();
    }
    return "";
}

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : ".";
    CHECK(!std::string(atomvae::version()).empty());

    atomvae::cpp::Segmenter seg("cpu");
    CHECK(seg.classes() == 3);
    const std::size_t h = 40, w = 48;
    std::vector<float> frame(h * w);
    for (std::size_t i = 0; i < frame.size(); i++) frame[i] = 0.5f + 0.5f * std::sin(0.3 * i);
    auto probs = seg.segment(frame, h, w, 0.2);
    CHECK(probs.size() == 3 * h * w);
    CHECK(std::fabs(probs[5] + probs[h * w + 5] + probs[2 * h * w + 5] - 1.0f) < 1e-3f);
    CHECK(error_of([&] { seg.segment(frame, h, w + 1, 0.2); }).find("not a 40×49 frame") != std::string::npos);
    CHECK(!error_of([] { atomvae::cpp::Segmenter bad("gpu-please"); }).empty());

    const std::size_t n = 60, win = 10;
    std::vector<float> windows(n * win * win);
    for (std::size_t k = 0; k < n; k++)
        for (std::size_t y = 0; y < win; y++)
            for (std::size_t x = 0; x < win; x++) {
                double a = 0.37 * k, c = 4.5, by = c + 3 * std::sin(a), bx = c + 3 * std::cos(a);
                windows[(k * win + y) * win + x] = (float)std::exp(-((y - by) * (y - by) + (x - bx) * (x - bx)) / 3.0);
            }
    auto rvae = atomvae::cpp::Rvae::train(windows, win, 2, 1e-3, 1);
    CHECK(rvae.window() == win && rvae.latent_columns() == 5);
    auto means = rvae.encode(windows);
    CHECK(means.size() == n * 5);
    auto decoded = rvae.decode(means, 5);
    CHECK(decoded.size() == n * win * win);
    CHECK(error_of([&] { rvae.decode(means, 4); }).find("latent vectors of length 4") != std::string::npos);
    CHECK(error_of([&] { rvae.encode(std::vector<float>(7)); }).find("not whole 10×10 windows") != std::string::npos);
    const std::string path = dir + "/rvae.h5";
    rvae.save(path);
    auto loaded = atomvae::cpp::Rvae::load(path);
    CHECK(loaded.encode(windows) == means);
    CHECK(error_of([&] { atomvae::cpp::Rvae::load(dir + "/missing.h5"); }).find("missing.h5") != std::string::npos);

    if (failures) {
        std::fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    std::printf("all C++ facade checks passed\n");
    return 0;
}
