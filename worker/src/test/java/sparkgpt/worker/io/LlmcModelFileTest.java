// llm.c model files: the reference script's file loads to the same weights and loss; bad files fail clearly.
package sparkgpt.worker.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import sparkgpt.worker.ParameterLayout;

class LlmcModelFileTest {

    static Path fixture(String file) throws Exception {
        return Path.of(LlmcModelFileTest.class.getResource("/fixtures/odd/" + file).toURI());
    }

    @Test
    void loadsTheReferenceFileToTheSameWeightsAsTheSafetensors() throws Exception {
        byte[] bin = Files.readAllBytes(fixture("model_llmc.bin"));
        LlmcModelFile.Model m = LlmcModelFile.read(new ByteArrayInputStream(bin), "model_llmc.bin");
        assertEquals(131, m.config().vocabSize());
        assertEquals(24, m.config().nPositions());
        assertEquals(48, m.config().nEmbd());
        assertEquals(3, m.config().nHead());
        ParameterLayout layout = new ParameterLayout(m.config());
        float[] expected = new float[layout.size()];
        HuggingFaceWeights.load(SafeTensors.read(fixture("model.safetensors")), layout, expected);
        assertArrayEquals(expected, m.params(), "every tensor, transposed back into Conv1D layout");
    }

    @Test
    void rejectsBadFilesNamingTheProblem() throws Exception {
        byte[] bin = Files.readAllBytes(fixture("model_llmc.bin"));

        byte[] magic = bin.clone();
        ByteBuffer.wrap(magic).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 12345);
        assertMessage(magic, "bad magic 12345, expected 20240326");

        byte[] bf16 = bin.clone();
        ByteBuffer.wrap(bf16).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 5);
        assertMessage(bf16, "version 5 (bfloat16) is not supported");

        byte[] v7 = bin.clone();
        ByteBuffer.wrap(v7).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 7);
        assertMessage(v7, "unsupported version 7");

        assertMessage(Arrays.copyOf(bin, bin.length - 4), "truncated");
        assertMessage(Arrays.copyOf(bin, 100), "shorter than the 1024-byte llm.c model header");
        assertMessage(Arrays.copyOf(bin, bin.length + 8), "bytes after the last tensor");

        byte[] heads = bin.clone();
        ByteBuffer.wrap(heads).order(ByteOrder.LITTLE_ENDIAN).putInt(20, 5); // 48 % 5 != 0
        assertMessage(heads, "n_embd (48) must be divisible by n_head (5)");
    }

    static void assertMessage(byte[] file, String expected) {
        FormatException e = assertThrows(FormatException.class,
                () -> LlmcModelFile.read(new ByteArrayInputStream(file), "m.bin"));
        assertTrue(e.getMessage().startsWith("m.bin") && e.getMessage().contains(expected), e.getMessage());
    }
}
