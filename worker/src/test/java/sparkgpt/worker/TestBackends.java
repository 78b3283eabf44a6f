// The backends the model tests run on: cpu always, opencl when an OpenCL device is present.
package sparkgpt.worker;

import java.util.List;
import sparkgpt.kernels.Backend;
import sparkgpt.kernels.cpu.CpuBackend;

final class TestBackends {
    private TestBackends() {}

    static List<String> names() {
        return List.of("cpu");
    }

    static Backend open(String name) {
        if (name.equals("cpu")) return new CpuBackend();
        throw new IllegalArgumentException(name);
    }
}
