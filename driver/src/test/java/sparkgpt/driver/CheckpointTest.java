// Checkpoint files: what is written (Hugging Face names and config), exact round trips, and one clear
// message naming the file for every kind of bad input.
package sparkgpt.driver;

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
import sparkgpt.worker.AdamW;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.HuggingFaceWeights;
import sparkgpt.worker.io.Json;
import sparkgpt.worker.io.SafeTensors;

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
                new Checkpoint.State(5, 5, 2.5, 7, 3, 6, true, Map.of("n_layer", "2")), 2);
    }

    static AdamW adamw(int n) {
        AdamW a = new AdamW(new ParameterLayout(SHAPE), new AdamW.Options(0.9f, 0.95f, 1e-8f, 0.1f));
        System.arraycopy(random(n, 2), 0, a.m, 0, n);
        System.arraycopy(random(n, 3), 0, a.v, 0, n);
        a.setStep(5);
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
        assertArrayEquals(adamw.m, back.m());
        assertArrayEquals(adamw.v, back.v());
        assertEquals(new Checkpoint.State(5, 5, 2.5, 7, 3, 6, true, Map.of("n_layer", "2")), back.state());
        assertEquals(dir, Checkpoint.latest(CONF, out.toString()));
    }

    @Test
    void latestFallsBackToTheNewestCompleteCheckpointAndOldOnesAreDeleted(@TempDir Path out) throws Exception {
        int n = new ParameterLayout(SHAPE).size();
        assertNull(Checkpoint.latest(CONF, out.resolve("none").toString()));
        for (int step : new int[] {1, 2, 3}) {
            Checkpoint.write(CONF, out.toString(), new Checkpoint.Model(SHAPE, random(n, step), "byte"), adamw(n),
                    new Checkpoint.State(step, step, 1, 7, 1, 6, true, Map.of()), 2);
        }
        assertFalse(Files.exists(out.resolve("step_000001")), "keep_checkpoints = 2");
        assertTrue(Files.exists(out.resolve("step_000002")));
        Files.delete(out.resolve("latest")); // a crash between deleting latest and renaming latest.tmp
        Files.delete(out.resolve("step_000003/trainer_state.json")); // and a damaged newest one
        assertEquals(out.resolve("step_000002").toString(), Checkpoint.latest(CONF, out.toString()));
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
        Files.write(model, java.util.Arrays.copyOf(bytes, bytes.length - 4));
        assertTrue(rejected(d).startsWith(model + ": "), rejected(d));

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
        assertEquals(d.resolve("optimizer.safetensors") + ": no tensor named 'exp_avg.transformer.wte.weight'", e.getMessage());
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
