// The cpu backend gives the same bits interpreted and JIT-compiled: a fresh executor JVM (interpreting
// at first) must compute what a warm one does, or exact resume and executor-loss recovery break.
package sparkgpt.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import sparkgpt.kernels.cpu.CpuBackend;

class DeterminismTest {

    /** Child JVM entry: one forward/backward on a small model; prints the loss and gradient bits. */
    public static void main(String[] args) {
        GptConfig cfg = new GptConfig(2, 2, 32, 20, 67); // odd sizes: vector bodies and scalar tails
        try (Gpt m = new Gpt(cfg, 2, new CpuBackend())) {
            m.initialize(1);
            Random r = new Random(5);
            int[] in = new int[40], tg = new int[40];
            for (int i = 0; i < 40; i++) {
                in[i] = r.nextInt(67);
                tg[i] = r.nextInt(67);
            }
            float loss = m.forward(in, tg, 0);
            m.backward();
            long h = Float.floatToRawIntBits(loss);
            for (float g : m.gradients()) h = h * 31 + Float.floatToRawIntBits(g);
            System.out.println("bits " + h);
        }
    }

    static String run(String... jvmFlags) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector"));
        cmd.addAll(List.of(jvmFlags));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DeterminismTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out.lines().filter(l -> l.startsWith("bits ")).findFirst().orElseThrow(() -> new AssertionError(out));
    }

    @Test
    @Timeout(300)
    void interpretedAndCompiledGiveTheSameBits() throws Exception {
        String interpreted = run("-Xint");
        String compiled = run("-Xcomp", "-XX:-TieredCompilation"); // C2 from the first call
        assertEquals(interpreted, compiled);
    }
}
