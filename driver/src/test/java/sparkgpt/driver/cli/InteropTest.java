// Hugging Face interop through the PyTorch reference (tools/reference/interop.py): a checkpoint sparkgpt
// writes gives the reference's logits when loaded by Hugging Face names, and a Hugging Face-layout
// directory the reference wrote initializes sparkgpt to the reference's loss.
package sparkgpt.driver.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.kernels.cpu.CpuBackend;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.SafeTensors;
import sparkgpt.worker.optim.AdamW;

/**
 * The committed fixtures in src/test/resources/interop always run: {@code checkpoint/} (written by
 * {@link Checkpoint#write}, regenerated with {@code -Dinterop.regenerate=true}) and the logits the
 * script computed from it, and {@code hf/} written by the script. When /usr/bin/python3 has torch,
 * the script also runs live on a checkpoint written by this test.
 */
class InteropTest {
    static final Path FIXTURES = Path.of("src/test/resources/interop");
    static final Path SCRIPT = Path.of("../tools/reference/interop.py");
    static final Configuration CONF = new Configuration();

    /** A model with sizes that divide nothing and weights far from their initial values. */
    static Checkpoint.Model model(GptConfig shape, long seed) {
        ParameterLayout layout = new ParameterLayout(shape);
        float[] w = new float[layout.size()];
        Random r = new Random(seed);
        for (ParameterLayout.Tensor t : layout.tensors()) {
            boolean gain = t.name().endsWith("ln_1.weight") || t.name().endsWith("ln_2.weight") || t.name().endsWith("ln_f.weight");
            for (int i = 0; i < t.size(); i++) w[t.offset() + i] = (gain ? 1f : 0f) + (float) (0.1 * r.nextGaussian());
        }
        return new Checkpoint.Model(shape, w, "byte");
    }

    static final Checkpoint.Model FIXTURE_MODEL = model(new GptConfig(2, 3, 24, 20, 67, 20), 42);

    /** Writes a checkpoint of m and returns its directory. */
    static Path write(Path out, Checkpoint.Model m) {
        ParameterLayout layout = new ParameterLayout(m.config());
        return Path.of(Checkpoint.write(CONF, out.toString(), m, new AdamW(layout, new AdamW.Options(0.9f, 0.95f, 1e-8f, 0f)),
                new Checkpoint.State(3, "adamw", 3, Double.POSITIVE_INFINITY, 0, 1, 1, 1, true, Map.of()), 0));
    }

    /** sparkgpt's logits for the script's inputs, compared with the script's. */
    static void assertSameLogits(Path checkpoint, Path expectedFile) throws Exception {
        SafeTensors expected = SafeTensors.read(expectedFile);
        SafeTensors.Tensor inputs = expected.get("inputs");
        int B = (int) inputs.shape()[0], T = (int) inputs.shape()[1];
        Checkpoint.Model m = Checkpoint.readModel(CONF, checkpoint.toString());
        float[] want = expected.requireF32("logits", B, T, m.config().vocabSize());
        try (Gpt gpt = new Gpt(m.config().withBlockSize(T), B, new CpuBackend())) {
            gpt.setParameters(m.params());
            gpt.forward(inputs.ints(), null, 0);
            float[] acts = gpt.logits();
            double worst = 0;
            for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(acts[gpt.acts.logits + i] - want[i]));
            assertTrue(worst < 1e-4, "max |logit difference| " + worst + " with " + expectedFile);
        }
    }

    /** The loss of the script's batch for the model sparkgpt initializes from a Hugging Face directory. */
    static void assertSameLoss(Path hfDir) throws Exception {
        SafeTensors expected = SafeTensors.read(hfDir.resolve("expected.safetensors"));
        SafeTensors.Tensor inputs = expected.get("inputs");
        int B = (int) inputs.shape()[0], T = (int) inputs.shape()[1];
        Checkpoint.Model m = Checkpoint.readModel(CONF, hfDir.toString()); // what init_from=DIR reads
        try (Gpt gpt = new Gpt(m.config().withBlockSize(T), B, new CpuBackend())) {
            gpt.setParameters(m.params());
            float loss = gpt.forward(inputs.ints(), expected.requireInts("targets"), 0);
            assertEquals(expected.requireF32("loss")[0], loss, 1e-4, hfDir.toString());
        }
    }

    @Test
    void committedCheckpointIsWhatTheWriterWritesAndGivesTheReferenceLogits(@TempDir Path tmp) throws Exception {
        Path written = write(tmp, FIXTURE_MODEL);
        if (Boolean.getBoolean("interop.regenerate")) {
            Files.createDirectories(FIXTURES.resolve("checkpoint"));
            for (String f : List.of("model.safetensors", "config.json")) {
                Files.copy(written.resolve(f), FIXTURES.resolve("checkpoint").resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        // the files the script checked are byte for byte what sparkgpt writes today
        for (String f : List.of("model.safetensors", "config.json")) {
            assertArrayEquals(Files.readAllBytes(FIXTURES.resolve("checkpoint").resolve(f)), Files.readAllBytes(written.resolve(f)),
                    f + " differs from the committed fixture: regenerate it (tools/reference/README.md)");
        }
        assertSameLogits(FIXTURES.resolve("checkpoint"), FIXTURES.resolve("checkpoint_logits.safetensors"));
    }

    @Test
    void committedHuggingFaceDirectoryInitializesToTheReferenceLoss() throws Exception {
        SafeTensors st = SafeTensors.read(FIXTURES.resolve("hf/model.safetensors"));
        assertTrue(st.contains("wte.weight") && !st.contains("transformer.wte.weight"), "names without the prefix");
        assertSameLoss(FIXTURES.resolve("hf"));
        assertNull(Checkpoint.readModel(CONF, FIXTURES.resolve("hf").toString()).tokenizer()); // 71 tokens: neither
    }

    @Test
    void liveThroughTheScriptWhenTorchIsInstalled(@TempDir Path tmp) throws Exception {
        Assumptions.assumeTrue(torchAvailable(), "/usr/bin/python3 without torch: the committed fixtures cover this");
        Path checkpoint = write(tmp.resolve("out"), model(new GptConfig(3, 2, 16, 9, 50, 9), 7));
        run("logits", "--checkpoint", checkpoint.toString(), "--out", tmp.resolve("logits.safetensors").toString(), "--batch", "3");
        assertSameLogits(checkpoint, tmp.resolve("logits.safetensors"));
        run("hf", "--out", tmp.resolve("hf").toString());
        assertSameLoss(tmp.resolve("hf"));
    }

    static boolean torchAvailable() {
        try {
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", "import torch").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    static void run(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("/usr/bin/python3", SCRIPT.toString()));
        cmd.addAll(List.of(args));
        File log = File.createTempFile("interop", ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "interop.py timed out");
        assertEquals(0, p.exitValue(), Files.readString(log.toPath()));
    }
}
