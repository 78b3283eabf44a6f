// Moves GPT-2 weights between the flat parameter buffer and safetensors files with Hugging Face names.
package sparkgpt.worker.io;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import sparkgpt.worker.ParameterLayout;

/**
 * The flat buffer already stores each tensor in Hugging Face's layout (see {@link ParameterLayout}),
 * so loading and saving are copies by name. Names are accepted with or without the
 * {@code transformer.} prefix (OpenAI's GPT-2 files on the Hugging Face hub omit it); a stored
 * {@code lm_head.weight} is ignored (tied to wte).
 */
public final class HuggingFaceWeights {
    private HuggingFaceWeights() {}

    /**
     * Copies every tensor of the layout from st into params. Fails, naming the file, on a missing
     * tensor, a dtype other than F32, or a shape that does not fit the layout's config.
     */
    public static void load(SafeTensors st, ParameterLayout layout, float[] params) {
        List<String> missing = new ArrayList<>();
        for (ParameterLayout.Tensor t : layout.tensors()) {
            String name = t.name();
            if (!st.contains(name)) {
                String bare = name.substring("transformer.".length());
                if (st.contains(bare)) {
                    name = bare;
                } else {
                    missing.add(t.name());
                    continue;
                }
            }
            long[] expected = Arrays.stream(t.shape()).asLongStream().toArray();
            float[] data = st.requireF32(name, expected);
            System.arraycopy(data, 0, params, t.offset(), t.size());
        }
        if (!missing.isEmpty()) {
            throw new FormatException(st.source(), "missing " + missing.size() + " tensor(s) of a GPT-2 with "
                    + layout.config.nLayer() + " layers, e.g. '" + missing.get(0) + "'");
        }
    }

    /** A writer holding every tensor of params under its Hugging Face name, F32, {"format": "pt"}. */
    public static SafeTensors.Writer writer(ParameterLayout layout, float[] params) {
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
        for (ParameterLayout.Tensor t : layout.tensors()) {
            long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
            w.f32Slice(t.name(), params, t.offset(), t.size(), shape);
        }
        return w;
    }
}
