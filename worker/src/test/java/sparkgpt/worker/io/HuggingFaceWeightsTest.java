// Loading GPT-2 weights by Hugging Face name: the streamed load gives the in-memory load's weights bit
// for bit, reads past what the model does not use, and rejects bad files with the in-memory load's messages.
package sparkgpt.worker.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

class HuggingFaceWeightsTest {
    static final GptConfig SHAPE = new GptConfig(2, 2, 16, 8, 37, 12);
    static final String SRC = "dir/model.safetensors";

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** The weights of the in-memory load (SafeTensors.read, then a copy per tensor), from a stream of unknown length. */
    static float[] inMemory(byte[] file, ParameterLayout layout) throws IOException {
        float[] params = new float[layout.size()];
        HuggingFaceWeights.load(SafeTensors.read(new ByteArrayInputStream(file), SRC), layout, params);
        return params;
    }

    /** The weights of the streamed load, from a stream of unknown length as Checkpoint reads it. */
    static float[] streamed(byte[] file, ParameterLayout layout) throws IOException {
        float[] params = new float[layout.size()];
        HuggingFaceWeights.load(SafeTensors.open(new ByteArrayInputStream(file), SRC), layout, params);
        return params;
    }

    static void assertBitIdentical(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError("element " + i + ": " + expected[i] + " != " + actual[i]);
            }
        }
    }

    @Test
    void streamedLoadGivesTheReferenceFixturesBitForBit() throws Exception {
        for (String fixture : new String[] {"tiny", "odd"}) {
            var cfg = FixturesTest.config(fixture);
            int positions = FixturesTest.intOf(cfg, "n_positions");
            ParameterLayout layout = new ParameterLayout(new GptConfig(FixturesTest.intOf(cfg, "n_layer"),
                    FixturesTest.intOf(cfg, "n_head"), FixturesTest.intOf(cfg, "n_embd"), positions,
                    FixturesTest.intOf(cfg, "vocab_size"), positions));
            byte[] file;
            try (var in = FixturesTest.resource(fixture, "model.safetensors")) {
                file = in.readAllBytes();
            }
            float[] expected = inMemory(file, layout);
            assertTrue(Float.floatToRawIntBits(expected[layout.lnfw]) != 0, fixture + ": the last tensors were read");
            assertBitIdentical(expected, streamed(file, layout));
        }
    }

    /**
     * A file as OpenAI's GPT-2 is stored on the Hugging Face hub: names without the transformer. prefix,
     * each layer's causal-mask buffers attn.bias (F32) and attn.masked_bias, and an lm_head.weight.
     */
    static byte[] hubStyle(ParameterLayout layout, float[] params, BiConsumer<String, SafeTensors.Writer> change) {
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
        for (ParameterLayout.Tensor t : layout.tensors()) {
            String bare = t.name().substring("transformer.".length());
            long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
            if (change != null && (bare.equals("ln_f.bias") || bare.equals("h.1.mlp.c_fc.weight"))) {
                change.accept(bare, w);
                continue;
            }
            w.f32Slice(bare, params, t.offset(), t.size(), shape);
            if (bare.endsWith("attn.c_proj.bias")) {
                String layer = bare.substring(0, bare.length() - "c_proj.bias".length());
                int T = layout.config.nPositions();
                w.f32(layer + "bias", new float[T * T], 1, 1, T, T);
                w.i32(layer + "masked_bias", new int[] {-10000});
            }
        }
        w.f32("lm_head.weight", new float[layout.config.vocabSize() * layout.config.nEmbd()],
                layout.config.vocabSize(), layout.config.nEmbd());
        return w.toBytes();
    }

    @Test
    void hubFilesLoadWithTheirExtraTensorsReadPast() throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        float[] params = random(layout.size(), 1);
        byte[] file = hubStyle(layout, params, null);
        assertTrue(SafeTensors.read(file, SRC).contains("h.1.attn.masked_bias"));
        assertBitIdentical(params, streamed(file, layout));
        assertBitIdentical(params, inMemory(file, layout));
        // and our own checkpoint files (transformer. prefix)
        byte[] ours = HuggingFaceWeights.writer(layout, params).toBytes();
        assertBitIdentical(params, streamed(ours, layout));
    }

    @Test
    void theTransformerPrefixWinsWhenAFileHasBothNames() throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        float[] params = random(layout.size(), 1);
        ParameterLayout.Tensor lnf = layout.tensor("transformer.ln_f.bias");
        SafeTensors.Writer w = HuggingFaceWeights.writer(layout, params);
        w.f32("ln_f.bias", new float[lnf.size()], lnf.size()); // zeros under the bare name: ignored
        byte[] file = w.toBytes();
        assertBitIdentical(inMemory(file, layout), streamed(file, layout));
        assertBitIdentical(params, streamed(file, layout));
    }

    /** The message both loads end in; they must be the same. */
    static String rejected(byte[] file, ParameterLayout layout) {
        String old = assertThrows(FormatException.class, () -> inMemory(file, layout)).getMessage();
        String now = assertThrows(FormatException.class, () -> streamed(file, layout)).getMessage();
        assertEquals(old, now);
        return now;
    }

    @Test
    void badFilesEndInTheMessagesOfTheInMemoryLoad() throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        float[] params = random(layout.size(), 1);
        assertEquals(SRC + ": missing 1 tensor(s) of a GPT-2 with 2 layers, e.g. 'transformer.ln_f.bias'",
                rejected(hubStyle(layout, params, (name, w) -> {
                    if (name.equals("h.1.mlp.c_fc.weight")) w.f32(name, new float[16 * 64], 16, 64);
                }), layout));
        assertEquals(SRC + ": tensor 'h.1.mlp.c_fc.weight' has shape [64, 16], expected [16, 64]",
                rejected(hubStyle(layout, params, (name, w) -> {
                    w.f32(name, new float[name.equals("ln_f.bias") ? 16 : 16 * 64], name.equals("ln_f.bias") ? new long[] {16} : new long[] {64, 16});
                }), layout));
        assertEquals(SRC + ": tensor 'ln_f.bias' is I32, expected F32",
                rejected(hubStyle(layout, params, (name, w) -> {
                    if (name.equals("ln_f.bias")) w.i32(name, new int[16], 16);
                    else w.f32(name, new float[16 * 64], 16, 64);
                }), layout));
        byte[] file = HuggingFaceWeights.writer(layout, params).toBytes();
        assertTrue(rejected(Arrays.copyOf(file, file.length - 4), layout)
                .startsWith(SRC + ": tensor 'transformer.ln_f.bias' data_offsets ["));
        assertTrue(rejected(Arrays.copyOf(file, file.length + 4), layout).contains("bytes after the last tensor"));
        assertTrue(rejected(Arrays.copyOf(file, 30), layout).contains("runs past the end of the file"));
    }

    @Test
    void aWholeFileOnDiskStreamsLikeInMemory(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        float[] params = random(layout.size(), 3);
        Path p = dir.resolve("model.safetensors");
        HuggingFaceWeights.writer(layout, params).writeTo(p);
        float[] back = new float[layout.size()];
        try (var in = Files.newInputStream(p)) {
            HuggingFaceWeights.load(SafeTensors.open(in, Files.size(p), p.toString()), layout, back);
        }
        assertBitIdentical(params, back);
    }
}
