// Finite-difference check of the backward pass against a double-precision forward pass.
package sparkgpt.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkgpt.kernels.cpu.CpuBackend;

class GradientCheckTest {

    @Test
    void analyticGradientsMatchCentralDifferencesInDouble() {
        GptConfig cfg = new GptConfig(2, 3, 12, 5, 23, 7);
        int B = 2, T = cfg.blockSize();
        Random r = new Random(7);
        int[] in = new int[B * T], tgt = new int[B * T];
        for (int i = 0; i < in.length; i++) {
            in[i] = r.nextInt(cfg.vocabSize());
            tgt[i] = r.nextInt(cfg.vocabSize());
        }
        try (Gpt model = new Gpt(cfg, B, new CpuBackend())) {
            model.initialize(3);
            // larger, non-trivial weights so that every path carries gradient
            float[] w = model.parameters();
            for (int i = 0; i < w.length; i++) w[i] += (float) (0.1 * r.nextGaussian());
            model.paramsChanged();
            float loss = model.forward(in, tgt, 0);
            model.zeroGrad();
            model.backward();
            float[] g = model.gradients();

            double[] wd = new double[w.length];
            for (int i = 0; i < w.length; i++) wd[i] = w[i];
            double lossD = DoubleGpt.loss(wd, model.params, in, tgt, B, T);
            assertEquals(lossD, loss, 1e-5 * lossD, "float forward vs double forward");

            // every tensor, a few entries each (incl. wpe rows beyond T, which must get 0)
            double h = 1e-5;
            int checked = 0;
            for (ParameterLayout.Tensor t : model.params.tensors()) {
                for (int k = 0; k < 4; k++) {
                    int i = t.offset() + r.nextInt(t.size());
                    double save = wd[i];
                    wd[i] = save + h;
                    double up = DoubleGpt.loss(wd, model.params, in, tgt, B, T);
                    wd[i] = save - h;
                    double down = DoubleGpt.loss(wd, model.params, in, tgt, B, T);
                    wd[i] = save;
                    double fd = (up - down) / (2 * h);
                    double err = Math.abs(fd - g[i]);
                    assertTrue(err <= 1e-4 * Math.max(1e-2, Math.abs(fd)) + 2e-6,
                            t.name() + "[" + (i - t.offset()) + "]: analytic " + g[i] + " vs finite difference " + fd);
                    checked++;
                }
            }
            assertTrue(checked > 50);
        }
    }
}
