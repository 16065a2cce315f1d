// atomvae C++ facade: RAII objects over the library's models, failures as C++
// exceptions (rust::Error, a std::exception whose what() is the message),
// std::vector in and out.
// Built on the cxx bridge of src/cxx.rs; compile your program with the
// generated glue (see tests/cxx_facade.rs for the exact command).
//
// Threads (the same rules as the C ABI's handles): an object may be used from any
// thread; calls on one object run one at a time (it holds its model behind a
// mutex); separate objects run in parallel. Inputs are only read during a call.
#pragma once

#include <string>
#include <vector>

#include "atomvae/src/cxx.rs.h"

namespace atomvae::cpp {

inline std::vector<float> to_vector(const rust::Vec<float> &v) { return std::vector<float>(v.begin(), v.end()); }

inline rust::Slice<const float> slice(const std::vector<float> &v) { return {v.data(), v.size()}; }

// A segmentation model (the embedded default).
class Segmenter {
  public:
    explicit Segmenter(const std::string &device = "cpu") : model_(atomvae::segmenter_embedded(device)) {}
    std::size_t classes() const { return model_->classes(); }
    // Class probabilities (classes × height × width) of a height × width frame.
    std::vector<float> segment(const std::vector<float> &frame, std::size_t height, std::size_t width,
                               double pixel_size) const {
        return to_vector(model_->segment(slice(frame), height, width, pixel_size));
    }

  private:
    rust::Box<atomvae::Segmenter> model_;
};

// A rotationally invariant VAE.
class Rvae {
  public:
    // Trains on count × window × window values.
    static Rvae train(const std::vector<float> &windows, std::size_t window, std::size_t epochs,
                      double learning_rate, std::uint64_t seed = 0, const std::string &device = "cpu") {
        return Rvae(atomvae::rvae_train(slice(windows), window, epochs, learning_rate, seed, device));
    }
    static Rvae load(const std::string &path, const std::string &device = "cpu") {
        return Rvae(atomvae::rvae_load(path, device));
    }
    void save(const std::string &path) const { model_->save(path); }
    std::size_t window() const { return model_->window(); }
    std::size_t latent_columns() const { return model_->latent_columns(); }
    // Posterior means, count × latent_columns() (angle, dx, dy, z1, z2…).
    std::vector<float> encode(const std::vector<float> &windows) const {
        return to_vector(model_->encode(slice(windows)));
    }
    // Windows from latent rows of `columns` values.
    std::vector<float> decode(const std::vector<float> &latents, std::size_t columns, bool with_pose = true) const {
        return to_vector(model_->decode(slice(latents), columns, with_pose));
    }

  private:
    explicit Rvae(rust::Box<atomvae::Rvae> model) : model_(std::move(model)) {}
    rust::Box<atomvae::Rvae> model_;
};

}  // namespace atomvae::cpp
