// Moves GPT-2 weights between the flat parameter buffer and safetensors files with Hugging Face names.
package sparkgpt.worker.io;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
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
            String name = fileName(t, st::contains);
            if (name == null) {
                missing.add(t.name());
                continue;
            }
            float[] data = st.requireF32(name, shape(t));
            System.arraycopy(data, 0, params, t.offset(), t.size());
        }
        if (!missing.isEmpty()) {
            throw missing(st.source(), layout, missing);
        }
    }

    /**
     * {@link #load(SafeTensors, ParameterLayout, float[])} streamed: the header is checked first
     * (missing tensors, shapes, dtypes: the same messages, before any data is read), then each
     * tensor is decoded straight into its slice of params; tensors the model does not use
     * (lm_head.weight, the attn.bias / attn.masked_bias mask buffers of Hugging Face's older files)
     * are read past without being allocated.
     */
    public static void load(SafeTensors.Reader file, ParameterLayout layout, float[] params) throws IOException {
        Map<String, ParameterLayout.Tensor> plan = new HashMap<>(); // name in the file -> where it goes
        List<String> missing = new ArrayList<>();
        for (ParameterLayout.Tensor t : layout.tensors()) {
            String name = fileName(t, file::contains);
            if (name == null) {
                missing.add(t.name());
            } else {
                file.requireF32(name, shape(t));
                plan.put(name, t);
            }
        }
        if (!missing.isEmpty()) {
            throw missing(file.source(), layout, missing);
        }
        file.readInto(e -> {
            ParameterLayout.Tensor t = plan.get(e.name());
            return t == null ? SafeTensors.Target.skip() : SafeTensors.Target.into(params, t.offset());
        });
    }

    /** The name t has in a file holding {@code inFile}: with the transformer. prefix if present, else without; null if neither. */
    private static String fileName(ParameterLayout.Tensor t, Predicate<String> inFile) {
        if (inFile.test(t.name())) {
            return t.name();
        }
        String bare = t.name().substring("transformer.".length());
        return inFile.test(bare) ? bare : null;
    }

    private static long[] shape(ParameterLayout.Tensor t) {
        return Arrays.stream(t.shape()).asLongStream().toArray();
    }

    private static FormatException missing(String source, ParameterLayout layout, List<String> missing) {
        return new FormatException(source, "missing " + missing.size() + " tensor(s) of a GPT-2 with "
                + layout.config.nLayer() + " layers, e.g. '" + missing.get(0) + "'");
    }

    /** A writer holding every tensor of params under its Hugging Face name, F32, {"format": "pt"}. */
    public static SafeTensors.Writer writer(ParameterLayout layout, float[] params) {
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
        for (ParameterLayout.Tensor t : layout.tensors()) {
            w.f32Slice(t.name(), params, t.offset(), t.size(), shape(t));
        }
        return w;
    }
}
