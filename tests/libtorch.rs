//! The crate links the libtorch of the PyPI torch 2.13.0 wheel and runs it without
//! LD_LIBRARY_PATH (rpath set by build.rs).

use atomvae::device::{DeviceChoice, DeviceError};

#[test]
fn libtorch_computes_on_the_cpu() {
    let device = DeviceChoice::Cpu.resolve().unwrap();
    let a = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]).to_device(device);
    let b = a.matmul(&a.transpose(0, 1));
    let v: Vec<f32> = Vec::try_from(b.flatten(0, 1)).unwrap();
    assert_eq!(v, vec![5.0, 11.0, 11.0, 25.0]);
    assert!(atomvae::device::libtorch_lib_dir().contains("torch"));
}

#[test]
fn device_choices_parse_and_resolve() {
    assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
    assert_eq!("tpu".parse::<DeviceChoice>().unwrap_err(), DeviceError::Unknown("tpu".into()));
    let auto = DeviceChoice::Auto.resolve().unwrap();
    assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
    if !tch::Cuda::is_available() {
        assert_eq!(DeviceChoice::Cuda.resolve().unwrap_err(), DeviceError::CudaUnavailable);
    }
}
