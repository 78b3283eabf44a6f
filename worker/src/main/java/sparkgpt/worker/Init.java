// GPT-2 / nanoGPT weight initialisation into the flat parameter buffer.
package sparkgpt.worker;

import java.util.Random;

final class Init {
    private Init() {}

    /**
     * Weights N(0, 0.02); the residual projections attn.c_proj and mlp.c_proj N(0, 0.02/sqrt(2*n_layer))
     * (GPT-2 paper, section 2.3; nanoGPT's _init_weights); biases 0; LayerNorm weight 1, bias 0.
     * Tensors are filled in layout order from one seeded generator, so a seed names one model.
     */
    static void gpt2(float[] params, ParameterLayout layout, Random random) {
        double residualStd = 0.02 / Math.sqrt(2.0 * layout.config.nLayer());
        for (ParameterLayout.Tensor t : layout.tensors()) {
            String n = t.name();
            int from = t.offset(), to = t.offset() + t.size();
            if (n.endsWith(".bias")) {
                java.util.Arrays.fill(params, from, to, 0f);
            } else if (n.contains("ln_")) {
                java.util.Arrays.fill(params, from, to, 1f);
            } else {
                double std = n.endsWith("c_proj.weight") ? residualStd : 0.02;
                for (int i = from; i < to; i++) params[i] = (float) (random.nextGaussian() * std);
            }
        }
    }
}
