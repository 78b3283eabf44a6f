// Checkpoint files: what is written (Hugging Face names and config), exact round trips, and one clear
// message naming the file for every kind of bad input.
package sparkgpt.driver.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.Main;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.HuggingFaceWeights;
import sparkgpt.worker.io.Json;
import sparkgpt.worker.io.SafeTensors;
import sparkgpt.worker.optim.AdamW;

class CheckpointTest {
    static final Configuration CONF = new Configuration();
    static final GptConfig SHAPE = new GptConfig(2, 2, 16, 8, 37, 12);

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** A checkpoint of SHAPE with random weights and moments, at step 5. */
    static String write(Path out, float[] params, AdamW adamw) {
        return Checkpoint.write(CONF, out.toString(), new Checkpoint.Model(SHAPE, params, "byte"), adamw,
                new Checkpoint.State(5, "adamw", 5, 2.5, 0, 7, 3, 6, true, Map.of("n_layer", "2")), 2);
    }

    static AdamW adamw(int n) {
        AdamW a = new AdamW(new ParameterLayout(SHAPE), new AdamW.Options(0.9f, 0.95f, 1e-8f, 0.1f));
        a.restore(Map.of("exp_avg", random(n, 2), "exp_avg_sq", random(n, 3)), 5);
        return a;
    }

    @Test
    void writesHuggingFaceFilesAndReadsThemBackExactly(@TempDir Path out) throws Exception {
        int n = new ParameterLayout(SHAPE).size();
        float[] params = random(n, 1);
        AdamW adamw = adamw(n);
        String dir = write(out, params, adamw);
        Path d = out.resolve("step_000005");
        assertEquals(d.toString(), dir);
        try (var files = Files.list(d)) {
            assertEquals(List.of("config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList()); // no .crc files, no temporaries
        }
        assertEquals("step_000005\n", Files.readString(out.resolve("latest")));

        SafeTensors st = SafeTensors.read(d.resolve("model.safetensors"));
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertEquals(new ParameterLayout(SHAPE).tensors().size(), st.tensors().size());
        assertFalse(st.contains("lm_head.weight"));
        assertArrayEquals(new long[] {16, 48}, st.get("transformer.h.1.attn.c_attn.weight").shape()); // Conv1D [in, out]
        assertArrayEquals(new long[] {12, 16}, st.get("transformer.wpe.weight").shape());
        assertEquals("F32", st.get("transformer.wte.weight").dtype());

        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) Json.parse(Files.readString(d.resolve("config.json")));
        assertEquals("gpt2", config.get("model_type"));
        assertEquals(List.of("GPT2LMHeadModel"), config.get("architectures"));
        assertEquals(2L, config.get("n_layer"));
        assertEquals(2L, config.get("n_head"));
        assertEquals(16L, config.get("n_embd"));
        assertEquals(12L, config.get("n_positions"));
        assertEquals(37L, config.get("vocab_size"));
        assertEquals(1e-5, config.get("layer_norm_epsilon"));
        assertEquals("gelu_new", config.get("activation_function"));
        assertEquals(true, config.get("tie_word_embeddings"));
        assertEquals("byte", config.get("tokenizer"));

        Checkpoint.Loaded back = Checkpoint.load(CONF, dir);
        assertEquals(SHAPE.withBlockSize(12), back.model().config()); // block_size is the training run's choice
        assertEquals("byte", back.model().tokenizer());
        assertArrayEquals(params, back.model().params());
        assertArrayEquals(adamw.state().get("exp_avg"), back.optimizerState().get("exp_avg"));
        assertArrayEquals(adamw.state().get("exp_avg_sq"), back.optimizerState().get("exp_avg_sq"));
        assertEquals(new Checkpoint.State(5, "adamw", 5, 2.5, 0, 7, 3, 6, true, Map.of("n_layer", "2")), back.state());
        assertEquals(dir, Checkpoint.latest(CONF, out.toString()));
    }

    @Test
    void latestFallsBackToTheNewestCompleteCheckpointAndOldOnesAreDeleted(@TempDir Path out) throws Exception {
        int n = new ParameterLayout(SHAPE).size();
        assertNull(Checkpoint.latest(CONF, out.resolve("none").toString()));
        for (int step : new int[] {1, 2, 3}) {
            Checkpoint.write(CONF, out.toString(), new Checkpoint.Model(SHAPE, random(n, step), "byte"), adamw(n),
                    new Checkpoint.State(step, "adamw", step, 1, 0, 7, 1, 6, true, Map.of()), 2);
        }
        assertFalse(Files.exists(out.resolve("step_000001")), "keep_checkpoints = 2");
        assertTrue(Files.exists(out.resolve("step_000002")));
        Files.delete(out.resolve("latest")); // a crash between deleting latest and renaming latest.tmp
        Files.delete(out.resolve("step_000003/trainer_state.json")); // and a damaged newest one
        assertEquals(out.resolve("step_000002").toString(), Checkpoint.latest(CONF, out.toString()));
    }

    @Test
    void theCountOfNonFiniteStepsRoundTripsAndAnOlderStateFileLoadsWithNone(@TempDir Path out) throws Exception {
        int n = new ParameterLayout(SHAPE).size();
        Checkpoint.State streak = new Checkpoint.State(5, "adamw", 4, 2.5, 2, 7, 3, 6, true, Map.of("n_layer", "2"));
        String dir = Checkpoint.write(CONF, out.toString(), new Checkpoint.Model(SHAPE, random(n, 1), "byte"), adamw(n),
                streak, 2);
        Path state = out.resolve("step_000005/trainer_state.json");
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) Json.parse(Files.readString(state));
        assertEquals(2L, json.get("bad_steps_in_a_row"));
        assertEquals(streak, Checkpoint.load(CONF, dir).state());

        // a trainer_state.json from before the count was saved: no streak
        String written = Files.readString(state);
        Files.writeString(state, written.replace("  \"bad_steps_in_a_row\": 2,\n", ""));
        assertFalse(Files.readString(state).contains("bad_steps"), Files.readString(state));
        assertEquals(new Checkpoint.State(5, "adamw", 4, 2.5, 0, 7, 3, 6, true, Map.of("n_layer", "2")), Checkpoint.load(CONF, dir).state());

        // a count that is not one
        Files.writeString(state, written.replace("\"bad_steps_in_a_row\": 2", "\"bad_steps_in_a_row\": -1"));
        assertEquals(state + ": \"bad_steps_in_a_row\" is -1, expected an integer >= 0",
                assertThrows(UserError.class, () -> Checkpoint.load(CONF, dir)).getMessage());
        Files.writeString(state, written.replace("\"bad_steps_in_a_row\": 2", "\"bad_steps_in_a_row\": 1.5"));
        assertEquals(state + ": \"bad_steps_in_a_row\" is 1.5, expected an integer",
                assertThrows(UserError.class, () -> Checkpoint.load(CONF, dir)).getMessage());
    }

    /** A HF-style directory of SHAPE whose files the test then damages. */
    static Path hfDir(Path dir) throws Exception {
        int n = new ParameterLayout(SHAPE).size();
        write(dir, random(n, 1), adamw(n));
        return dir.resolve("step_000005");
    }

    static String rejected(Path path) {
        UserError e = assertThrows(UserError.class, () -> Checkpoint.readModel(CONF, path.toString()));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void badFilesAreRejectedWithOneMessageNamingTheFile(@TempDir Path tmp) throws Exception {
        // bad JSON in config.json
        Path d = hfDir(tmp.resolve("a"));
        Files.writeString(d.resolve("config.json"), "{\"n_layer\": 2,}");
        assertTrue(rejected(d).startsWith(d.resolve("config.json").toString() + ": "), rejected(d));

        // a shape that does not fit config.json
        d = hfDir(tmp.resolve("b"));
        Files.writeString(d.resolve("config.json"), Files.readString(d.resolve("config.json")).replace("\"n_embd\": 16", "\"n_embd\": 8"));
        assertEquals(d.resolve("model.safetensors") + ": tensor 'transformer.wte.weight' has shape [37, 16], expected [37, 8]",
                rejected(d));

        // a missing tensor
        d = hfDir(tmp.resolve("c"));
        SafeTensors st = SafeTensors.read(d.resolve("model.safetensors"));
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
        st.tensors().forEach((name, t) -> {
            if (!name.equals("transformer.ln_f.bias")) w.f32(name, t.floats(), t.shape());
        });
        w.writeTo(d.resolve("model.safetensors"));
        assertEquals(d.resolve("model.safetensors") + ": missing 1 tensor(s) of a GPT-2 with 2 layers, e.g. 'transformer.ln_f.bias'",
                rejected(d));

        // a dtype other than F32
        d = hfDir(tmp.resolve("d"));
        SafeTensors.Writer ints = new SafeTensors.Writer();
        st.tensors().forEach((name, t) -> {
            if (name.equals("transformer.ln_f.bias")) ints.i32(name, new int[16], 16);
            else ints.f32(name, t.floats(), t.shape());
        });
        ints.writeTo(d.resolve("model.safetensors"));
        assertTrue(rejected(d).startsWith(d.resolve("model.safetensors") + ": "), rejected(d));
        assertTrue(rejected(d).contains("I32"), rejected(d));

        // a header over 100 MB, offsets out of range (a truncated file)
        d = hfDir(tmp.resolve("e"));
        Path model = d.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 200_000_000L);
        Files.write(model, bytes);
        assertTrue(rejected(d).startsWith(model + ": header length 200000000 bytes is over the limit"), rejected(d));
        bytes = Files.readAllBytes(hfDir(tmp.resolve("f")).resolve("model.safetensors"));
        byte[] truncated = java.util.Arrays.copyOf(bytes, bytes.length - 4);
        Files.write(model, truncated);
        assertEquals(assertThrows(sparkgpt.worker.io.FormatException.class,
                () -> SafeTensors.read(new java.io.ByteArrayInputStream(truncated), model.toString())).getMessage(), rejected(d));
        assertTrue(rejected(d).startsWith(model + ": tensor 'transformer.ln_f.bias' data_offsets ["), rejected(d));

        // a missing file, a missing directory
        d = hfDir(tmp.resolve("g"));
        Files.delete(d.resolve("model.safetensors"));
        assertTrue(rejected(d).startsWith(d + " is a directory without model.safetensors"), rejected(d));
        assertTrue(rejected(tmp.resolve("nowhere")).startsWith(tmp.resolve("nowhere") + " does not exist"));

        // an optimizer file missing a moment, when resuming
        d = hfDir(tmp.resolve("h"));
        Files.write(d.resolve("optimizer.safetensors"), HuggingFaceWeights.writer(new ParameterLayout(SHAPE),
                new float[new ParameterLayout(SHAPE).size()]).toBytes());
        String dir = d.toString();
        UserError e = assertThrows(UserError.class, () -> Checkpoint.load(CONF, dir));
        assertEquals(d.resolve("optimizer.safetensors") + ": holds no optimizer state for this model's parameters (expected"
                + " tensors such as exp_avg.transformer.wte.weight)", e.getMessage());
    }

    /** The weights, m and v as reading every tensor into its own array and copying it (the in-memory path) gives them. */
    static float[][] inMemory(Path dir, ParameterLayout layout) throws Exception {
        float[] params = new float[layout.size()], m = new float[layout.size()], v = new float[layout.size()];
        HuggingFaceWeights.load(SafeTensors.read(dir.resolve("model.safetensors")), layout, params);
        Path opt = dir.resolve("optimizer.safetensors");
        if (Files.exists(opt)) {
            SafeTensors st = SafeTensors.read(opt);
            for (ParameterLayout.Tensor t : layout.tensors()) {
                long[] shape = java.util.Arrays.stream(t.shape()).asLongStream().toArray();
                System.arraycopy(st.requireF32("exp_avg." + t.name(), shape), 0, m, t.offset(), t.size());
                System.arraycopy(st.requireF32("exp_avg_sq." + t.name(), shape), 0, v, t.offset(), t.size());
            }
        }
        return new float[][] {params, m, v};
    }

    /** The message the in-memory path ends in on dir's optimizer.safetensors, read as a stream like Checkpoint reads it. */
    static String inMemoryMessage(Path opt, ParameterLayout layout) {
        return assertThrows(sparkgpt.worker.io.FormatException.class, () -> {
            SafeTensors st;
            try (var in = new java.io.BufferedInputStream(Files.newInputStream(opt))) {
                st = SafeTensors.read(in, opt.toString());
            }
            for (ParameterLayout.Tensor t : layout.tensors()) {
                long[] shape = java.util.Arrays.stream(t.shape()).asLongStream().toArray();
                st.requireF32("exp_avg." + t.name(), shape);
                st.requireF32("exp_avg_sq." + t.name(), shape);
            }
        }).getMessage();
    }

    static void assertBitIdentical(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + " element " + i + ": " + expected[i] + " != " + actual[i]);
            }
        }
    }

    @Test
    void streamedReadsGiveTheInMemoryPathsWeightsAndMomentsBitForBit(@TempDir Path out) throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        int n = layout.size();
        float[] params = random(n, 1);
        params[0] = -0f;
        params[n - 1] = Float.MIN_VALUE; // a subnormal
        Path d = Path.of(write(out, params, adamw(n)));
        float[][] expected = inMemory(d, layout);
        Checkpoint.Loaded back = Checkpoint.load(CONF, d.toString());
        assertBitIdentical(expected[0], back.model().params(), "weights");
        assertBitIdentical(expected[1], back.optimizerState().get("exp_avg"), "exp_avg");
        assertBitIdentical(expected[2], back.optimizerState().get("exp_avg_sq"), "exp_avg_sq");
        assertBitIdentical(params, back.model().params(), "weights as written");

        // Hugging Face directories: without the transformer. prefix, with attn.bias buffers (read past)
        for (String dir : new String[] {"src/test/resources/interop/hf", "src/test/resources/interop/checkpoint",
                "../worker/src/test/resources/fixtures/odd"}) {
            Checkpoint.Model m = Checkpoint.readModel(CONF, dir);
            assertBitIdentical(inMemory(Path.of(dir), new ParameterLayout(m.config()))[0], m.params(), dir);
        }
    }

    @Test
    void badOptimizerFilesEndInTheInMemoryPathsMessage(@TempDir Path tmp) throws Exception {
        ParameterLayout layout = new ParameterLayout(SHAPE);
        Path d = hfDir(tmp.resolve("a"));
        Path opt = d.resolve("optimizer.safetensors");
        byte[] good = Files.readAllBytes(opt);
        SafeTensors st = SafeTensors.read(opt);
        java.util.function.Function<java.util.function.BiConsumer<String, SafeTensors.Writer>, byte[]> rewrite = change -> {
            SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
            st.tensors().forEach((name, t) -> change.accept(name, w));
            return w.toBytes();
        };
        Map<String, byte[]> bad = new java.util.LinkedHashMap<>();
        bad.put("truncated", java.util.Arrays.copyOf(good, good.length - 4));
        bad.put("trailing bytes", java.util.Arrays.copyOf(good, good.length + 8));
        bad.put("a moment missing", rewrite.apply((name, w) -> {
            if (!name.equals("exp_avg_sq.transformer.h.1.mlp.c_fc.bias")) w.f32(name, st.get(name).floats(), st.get(name).shape());
        }));
        bad.put("a wrong shape", rewrite.apply((name, w) -> {
            float[] x = st.get(name).floats();
            if (name.equals("exp_avg.transformer.h.0.attn.c_proj.weight")) w.f32(name, x, 8, 32);
            else w.f32(name, x, st.get(name).shape());
        }));
        bad.put("a wrong dtype", rewrite.apply((name, w) -> {
            float[] x = st.get(name).floats();
            if (name.equals("exp_avg_sq.transformer.wpe.weight")) w.i32(name, new int[x.length], st.get(name).shape());
            else w.f32(name, x, st.get(name).shape());
        }));
        Map<String, String> expected = Map.of(
                "truncated", "tensor 'exp_avg_sq.transformer.ln_f.bias' data_offsets [",
                "trailing bytes", "data section has bytes after the last tensor",
                "a moment missing", "no tensor named 'exp_avg_sq.transformer.h.1.mlp.c_fc.bias'",
                "a wrong shape", "tensor 'exp_avg.transformer.h.0.attn.c_proj.weight' has shape [8, 32], expected [16, 16]",
                "a wrong dtype", "tensor 'exp_avg_sq.transformer.wpe.weight' is I32, expected F32");
        for (Map.Entry<String, byte[]> e : bad.entrySet()) {
            Files.write(opt, e.getValue());
            UserError err = assertThrows(UserError.class, () -> Checkpoint.load(CONF, d.toString()), e.getKey());
            assertEquals(inMemoryMessage(opt, layout), err.getMessage(), e.getKey());
            assertTrue(err.getMessage().startsWith(opt + ": " + expected.get(e.getKey())), e.getKey() + ": " + err.getMessage());
        }
        Files.write(opt, good);
        assertBitIdentical(inMemory(d, layout)[2], Checkpoint.load(CONF, d.toString()).optimizerState().get("exp_avg_sq"), "repaired");
    }

    @Test
    void llmcModelFileGivesTheSameModelAsItsHuggingFaceTwin() {
        // the reference wrote both: V 131 padded to 256 in the .bin, which the reader takes from the header
        String odd = "../worker/src/test/resources/fixtures/odd";
        Checkpoint.Model bin = Checkpoint.readModel(CONF, odd + "/model_llmc.bin");
        Checkpoint.Model hf = Checkpoint.readModel(CONF, odd);
        assertEquals(new GptConfig(2, 3, 48, 24, 131, 24), bin.config());
        assertEquals(hf.config(), bin.config());
        assertArrayEquals(hf.params(), bin.params());
    }

    @Test
    void llmcFilesWithAWrongMagicOrVersionEndTheCommandWithOneLine(@TempDir Path tmp) throws Exception {
        for (int[] header : new int[][] {{20240520, 3}, {20240326, 5}, {20240326, 1}}) {
            Path bin = tmp.resolve("model_" + header[0] + "_" + header[1] + ".bin");
            ByteBuffer b = ByteBuffer.allocate(1024 + 64).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(header[0]).putInt(header[1]).putInt(8).putInt(37).putInt(2).putInt(2).putInt(16).putInt(128);
            Files.write(bin, b.array());
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = Main.exitCode(new String[] {"sample", "--checkpoint=" + bin}, new PrintStream(err, true, StandardCharsets.UTF_8));
            String msg = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, code, msg);
            assertTrue(msg.startsWith("sparkgpt: " + bin + ": "), msg);
            assertTrue(msg.contains(header[0] != 20240326 ? "bad magic 20240520" : "version " + header[1]), msg);
            assertEquals(1, msg.strip().split("\n").length, msg);
        }
    }
}
