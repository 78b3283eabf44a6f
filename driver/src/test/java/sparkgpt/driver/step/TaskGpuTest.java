// The GPU address Spark assigns a task becomes the OpenCL device index the task's backend opens
// (ClusterTest checks that tasks on a real cluster see their GPU addresses).
package sparkgpt.driver.step;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;
import sparkgpt.driver.config.UserError;

class TaskGpuTest {

    @Test
    void nodeWideAddressesIndexTheVisibleGpus() {
        assertEquals(-1, TaskGpu.openClIndex(List.of(), 4), "no GPU assigned: the backend chooses");
        assertEquals(0, TaskGpu.openClIndex(List.of("0"), 4));
        assertEquals(3, TaskGpu.openClIndex(List.of("3"), 4));
        assertEquals(2, TaskGpu.openClIndex(List.of("2", "3"), 4), "a task with two GPUs uses its first");
    }

    @Test
    void anIsolatedContainerSeesOnlyItsOwnGpus() {
        // YARN/Kubernetes isolation: address 5 of the node is the container's only GPU, OpenCL device 0
        assertEquals(0, TaskGpu.openClIndex(List.of("5"), 1));
        assertEquals(1, TaskGpu.openClIndex(List.of("7", "6"), 2), "7 is the second of the container's GPUs 6, 7");
    }

    @Test
    void impossibleAddressesNameTheProblem() {
        UserError e = assertThrows(UserError.class, () -> TaskGpu.openClIndex(List.of("3"), 0));
        assertEquals("Spark assigned GPU [3] to this task but the executor sees 0 OpenCL GPU(s): check the discovery"
                + " script and the OpenCL driver (clinfo -l) on that node", e.getMessage());
        e = assertThrows(UserError.class, () -> TaskGpu.openClIndex(List.of("GPU-1a2b"), 2));
        assertTrue(e.getMessage().startsWith("the task's GPU address 'GPU-1a2b' is not a number"), e.getMessage());
    }

    @Test
    void outsideATaskThereIsNoAssignment() {
        assertEquals(List.of(), TaskGpu.addresses());
        // and the driver's backend is the usual choice
        try (var b = WorkerRuntime.openBackend("cpu")) {
            assertEquals("cpu", b.device().substring(0, 3));
        }
    }
}
