// Reads the committed PyTorch reference fixtures (tools/reference/gpt2_reference.py) and checks
// that they are what the model tests will assume: names, shapes, dtypes and internal consistency.
package sparkgpt.worker.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FixturesTest {

    static InputStream resource(String fixture, String file) {
        String path = "/fixtures/" + fixture + "/" + file;
        InputStream in = FixturesTest.class.getResourceAsStream(path);
        assertNotNull(in, "missing test resource " + path + "; regenerate with tools/reference/gpt2_reference.py");
        return in;
    }

    static SafeTensors tensors(String fixture, String file) throws IOException {
        try (InputStream in = resource(fixture, file)) {
            return SafeTensors.read(in, "fixtures/" + fixture + "/" + file);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> config(String fixture) throws IOException {
        try (InputStream in = resource(fixture, "config.json")) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return (Map<String, Object>) Json.parse(text, "fixtures/" + fixture + "/config.json");
        }
    }

    static int intOf(Map<String, Object> cfg, String key) {
        return Math.toIntExact((Long) cfg.get(key));
    }

    /** HF GPT-2 parameter names and shapes, in checkpoint order, derived from the sizes alone. */
    static LinkedHashMap<String, long[]> gpt2Params(int layers, int C, int V, int maxT) {
        LinkedHashMap<String, long[]> p = new LinkedHashMap<>();
        p.put("transformer.wte.weight", new long[] {V, C});
        p.put("transformer.wpe.weight", new long[] {maxT, C});
        for (int i = 0; i < layers; i++) {
            String h = "transformer.h." + i + ".";
            p.put(h + "ln_1.weight", new long[] {C});
            p.put(h + "ln_1.bias", new long[] {C});
            p.put(h + "attn.c_attn.weight", new long[] {C, 3L * C});
            p.put(h + "attn.c_attn.bias", new long[] {3L * C});
            p.put(h + "attn.c_proj.weight", new long[] {C, C});
            p.put(h + "attn.c_proj.bias", new long[] {C});
            p.put(h + "ln_2.weight", new long[] {C});
            p.put(h + "ln_2.bias", new long[] {C});
            p.put(h + "mlp.c_fc.weight", new long[] {C, 4L * C});
            p.put(h + "mlp.c_fc.bias", new long[] {4L * C});
            p.put(h + "mlp.c_proj.weight", new long[] {4L * C, C});
            p.put(h + "mlp.c_proj.bias", new long[] {C});
        }
        p.put("transformer.ln_f.weight", new long[] {C});
        p.put("transformer.ln_f.bias", new long[] {C});
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "odd"})
    void fixtureMatchesItsConfig(String fixture) throws IOException {
        Map<String, Object> cfg = config(fixture);
        int L = intOf(cfg, "n_layer");
        int NH = intOf(cfg, "n_head");
        int C = intOf(cfg, "n_embd");
        int maxT = intOf(cfg, "n_positions");
        int V = intOf(cfg, "vocab_size");
        int T = intOf(cfg, "block_size");
        int B = intOf(cfg, "batch_size");
        int steps = intOf(cfg, "steps");
        assertEquals(0, C % NH, "n_embd must divide into heads");
        assertTrue(T <= maxT);
        assertEquals(Boolean.TRUE, cfg.get("perturbed"));
        @SuppressWarnings("unchecked")
        Map<String, Object> adamw = (Map<String, Object>) cfg.get("adamw");
        for (String key : List.of("lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip")) {
            assertTrue(adamw.get(key) instanceof Double, "adamw." + key);
        }

        // config's parameter list == the HF layout derived from the sizes == the checkpoint
        LinkedHashMap<String, long[]> params = gpt2Params(L, C, V, maxT);
        List<String> configNames = new ArrayList<>();
        for (Object o : (List<?>) cfg.get("params")) {
            Map<?, ?> p = (Map<?, ?>) o;
            String name = (String) p.get("name");
            configNames.add(name);
            long[] shape = ((List<?>) p.get("shape")).stream().mapToLong(x -> (Long) x).toArray();
            assertArrayEquals(params.get(name), shape, name);
        }
        assertEquals(List.copyOf(params.keySet()), configNames);

        SafeTensors model = tensors(fixture, "model.safetensors");
        assertEquals(Map.of("format", "pt"), model.metadata());
        assertEquals(List.copyOf(params.keySet()), List.copyOf(model.tensors().keySet()));
        params.forEach((name, shape) -> model.requireF32(name, shape));

        SafeTensors batch = tensors(fixture, "batch.safetensors");
        assertArrayEquals(new long[] {B, T}, batch.get("inputs").shape());
        assertArrayEquals(new long[] {B, T}, batch.get("targets").shape());
        int[] inputs = batch.requireInts("inputs");
        int[] targets = batch.requireInts("targets");
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                assertTrue(inputs[b * T + t] >= 0 && inputs[b * T + t] < V);
                assertTrue(targets[b * T + t] >= 0 && targets[b * T + t] < V);
                if (t + 1 < T) {
                    assertEquals(inputs[b * T + t + 1], targets[b * T + t], "targets are inputs shifted by one");
                }
            }
        }

        SafeTensors expected = tensors(fixture, "expected.safetensors");
        float[] logits = expected.requireF32("logits", B, T, V);
        float loss = expected.requireF32("loss", 1)[0];
        float[] losses = expected.requireF32("losses", steps);
        float[] gradNorms = expected.requireF32("grad_norms", steps);
        assertEquals(losses[0], loss);
        int count = 4;
        double sumSq = 0;
        for (Map.Entry<String, long[]> e : params.entrySet()) {
            for (float g : expected.requireF32("grad." + e.getKey(), e.getValue())) {
                sumSq += (double) g * g;
            }
            expected.requireF32("final." + e.getKey(), e.getValue());
            count += 2;
        }
        assertEquals(count, expected.tensors().size(), "no unexpected tensors in expected.safetensors");

        // internal consistency: the loss is the mean cross-entropy of the stored logits, and the
        // stored gradients are the unclipped ones whose norm is grad_norms[0]
        double ce = 0;
        for (int bt = 0; bt < B * T; bt++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < V; v++) {
                max = Math.max(max, logits[bt * V + v]);
            }
            double sum = 0;
            for (int v = 0; v < V; v++) {
                sum += Math.exp(logits[bt * V + v] - max);
            }
            ce += Math.log(sum) + max - logits[bt * V + targets[bt]];
        }
        assertEquals(loss, ce / (B * T), 1e-5);
        assertEquals(gradNorms[0], Math.sqrt(sumSq), 1e-5 * gradNorms[0]);
        // positions >= T are never used, so their wpe rows get exactly zero gradient
        float[] gwpe = expected.requireF32("grad.transformer.wpe.weight");
        for (int i = T * C; i < gwpe.length; i++) {
            assertEquals(0f, gwpe[i]);
        }
        // a random init predicts roughly uniformly; training on one batch must make progress
        assertEquals(Math.log(V), loss, 0.2);
        for (int i = 1; i < steps; i++) {
            assertTrue(losses[i] < losses[i - 1], "loss must fall at step " + i);
        }
    }

    @Test
    void fixturesCoverClippedAndUnclippedSteps() throws IOException {
        int clipped = 0;
        int unclipped = 0;
        for (String fixture : List.of("tiny", "odd")) {
            double clip = (Double) ((Map<?, ?>) config(fixture).get("adamw")).get("grad_clip");
            for (float n : tensors(fixture, "expected.safetensors").requireF32("grad_norms")) {
                if (n > clip) {
                    clipped++;
                } else {
                    unclipped++;
                }
            }
        }
        assertTrue(clipped > 0 && unclipped > 0, "clipped " + clipped + ", unclipped " + unclipped);
    }
}
