// Where each weight of a GPT-2 model lives in the one flat parameter buffer, under its Hugging Face name.
package sparkgpt.worker;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The flat buffer holds the tensors in the order of Hugging Face's GPT2LMHeadModel.state_dict()
 * (lm_head is tied to wte and not stored), each in Hugging Face's layout (Conv1D weights are
 * [in, out]):
 *
 * <pre>
 *   transformer.wte.weight                 [V, C]
 *   transformer.wpe.weight                 [n_positions, C]
 *   for each layer i:
 *     transformer.h.i.ln_1.weight, .bias        [C]
 *     transformer.h.i.attn.c_attn.weight        [C, 3C]    .bias [3C]
 *     transformer.h.i.attn.c_proj.weight        [C, C]     .bias [C]
 *     transformer.h.i.ln_2.weight, .bias        [C]
 *     transformer.h.i.mlp.c_fc.weight           [C, 4C]    .bias [4C]
 *     transformer.h.i.mlp.c_proj.weight         [4C, C]    .bias [C]
 *   transformer.ln_f.weight, .bias         [C]
 * </pre>
 *
 * The gradient buffer and both AdamW moment buffers use the same layout.
 */
public final class ParameterLayout {

    /** One tensor: its Hugging Face name, shape, offset into the flat buffer, and whether AdamW decays it. */
    public record Tensor(String name, int[] shape, int offset, int size, boolean decay) {}

    public final GptConfig config;
    public final int wte, wpe, lnfw, lnfb;
    public final int[] ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb;
    private final List<Tensor> tensors;
    private final int size;

    public ParameterLayout(GptConfig config) {
        this.config = config;
        int L = config.nLayer(), C = config.nEmbd(), V = config.vocabSize(), maxT = config.nPositions();
        ln1w = new int[L]; ln1b = new int[L]; qkvw = new int[L]; qkvb = new int[L];
        attprojw = new int[L]; attprojb = new int[L]; ln2w = new int[L]; ln2b = new int[L];
        fcw = new int[L]; fcb = new int[L]; fcprojw = new int[L]; fcprojb = new int[L];
        List<Tensor> list = new ArrayList<>();
        Cursor c = new Cursor(list);
        // weight decay applies to the 2-D weights only (nanoGPT's configure_optimizers)
        wte = c.add("transformer.wte.weight", true, V, C);
        wpe = c.add("transformer.wpe.weight", true, maxT, C);
        for (int l = 0; l < L; l++) {
            String p = "transformer.h." + l + ".";
            ln1w[l] = c.add(p + "ln_1.weight", false, C);
            ln1b[l] = c.add(p + "ln_1.bias", false, C);
            qkvw[l] = c.add(p + "attn.c_attn.weight", true, C, 3 * C);
            qkvb[l] = c.add(p + "attn.c_attn.bias", false, 3 * C);
            attprojw[l] = c.add(p + "attn.c_proj.weight", true, C, C);
            attprojb[l] = c.add(p + "attn.c_proj.bias", false, C);
            ln2w[l] = c.add(p + "ln_2.weight", false, C);
            ln2b[l] = c.add(p + "ln_2.bias", false, C);
            fcw[l] = c.add(p + "mlp.c_fc.weight", true, C, 4 * C);
            fcb[l] = c.add(p + "mlp.c_fc.bias", false, 4 * C);
            fcprojw[l] = c.add(p + "mlp.c_proj.weight", true, 4 * C, C);
            fcprojb[l] = c.add(p + "mlp.c_proj.bias", false, C);
        }
        lnfw = c.add("transformer.ln_f.weight", false, C);
        lnfb = c.add("transformer.ln_f.bias", false, C);
        this.tensors = Collections.unmodifiableList(list);
        this.size = Math.toIntExact(c.offset);
    }

    /** Total number of parameters. */
    public int size() {
        return size;
    }

    /**
     * Training FLOPs per token at the config's block size, nanoGPT's estimate_mfu (PaLM appendix B):
     * 6N for the weights (N without the position table, which is a lookup) + 12 L C T for attention.
     */
    public double flopsPerToken() {
        GptConfig c = config;
        return 6.0 * (size - (long) c.nPositions() * c.nEmbd()) + 12.0 * c.nLayer() * c.nEmbd() * c.blockSize();
    }

    public List<Tensor> tensors() {
        return tensors;
    }

    /** The tensor with this Hugging Face name, or null. */
    public Tensor tensor(String name) {
        for (Tensor t : tensors) if (t.name().equals(name)) return t;
        return null;
    }

    private static final class Cursor {
        final List<Tensor> list;
        long offset;

        Cursor(List<Tensor> list) {
            this.list = list;
        }

        int add(String name, boolean decay, int... shape) {
            long n = 1;
            for (int d : shape) n *= d;
            if (offset + n > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("model too large for one parameter buffer: more than 2^31 parameters");
            }
            int at = (int) offset;
            list.add(new Tensor(name, shape, at, (int) n, decay));
            offset += n;
            return at;
        }
    }
}
