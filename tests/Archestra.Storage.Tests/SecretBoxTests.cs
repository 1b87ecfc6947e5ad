using System.Security.Cryptography;

namespace Archestra.Storage.Tests;

public sealed class SecretBoxTests
{
    private static readonly string Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void Encrypt_then_decrypt_returns_the_plaintext_and_names_the_key()
    {
        var box = new SecretBox(Key);
        var sealedSecret = box.Encrypt("sk-live-abc", "provider/1");
        Assert.Equal(box.KeyId, sealedSecret.KeyId);
        Assert.Matches("^k[0-9a-f]{16}$", sealedSecret.KeyId);
        Assert.Equal(12, sealedSecret.Nonce.Length);
        Assert.Equal("sk-live-abc".Length + 16, sealedSecret.Ciphertext.Length);
        Assert.Equal("sk-live-abc", box.DecryptString(sealedSecret, "provider/1"));
    }

    [Fact]
    public void Every_encryption_uses_a_fresh_nonce()
    {
        var box = new SecretBox(Key);
        var a = box.Encrypt("same");
        var b = box.Encrypt("same");
        Assert.NotEqual(a.Nonce, b.Nonce);
        Assert.NotEqual(a.Ciphertext, b.Ciphertext);
    }

    [Theory]
    [InlineData("ciphertext")]
    [InlineData("tag")]
    [InlineData("nonce")]
    [InlineData("associated data")]
    public void Any_tampering_is_detected(string part)
    {
        var box = new SecretBox(Key);
        var s = box.Encrypt("sk-live-abc", "provider/1");
        var ciphertext = (byte[])s.Ciphertext.Clone();
        var nonce = (byte[])s.Nonce.Clone();
        var aad = "provider/1";
        switch (part)
        {
            case "ciphertext":
                ciphertext[0] ^= 1;
                break;
            case "tag":
                ciphertext[^1] ^= 0x80;
                break;
            case "nonce":
                nonce[5] ^= 4;
                break;
            default:
                aad = "provider/2";
                break;
        }

        Assert.ThrowsAny<CryptographicException>(() => box.DecryptString(new SealedSecret(ciphertext, nonce, s.KeyId), aad));
    }

    [Fact]
    public void After_rotation_previous_keys_still_decrypt_and_new_secrets_use_the_current_key()
    {
        var oldBox = new SecretBox(Key);
        var old = oldBox.Encrypt("sk-old");
        var newKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var rotated = new SecretBox(newKey, Key);
        Assert.NotEqual(oldBox.KeyId, rotated.KeyId);
        Assert.Equal("sk-old", rotated.DecryptString(old));
        Assert.True(rotated.NeedsRotation(old));
        Assert.False(rotated.NeedsRotation(rotated.Encrypt("x")));
        // Without the old key the error names both key ids instead of a generic failure.
        var e = Assert.Throws<KeyNotFoundException>(() => new SecretBox(newKey).DecryptString(old));
        Assert.Contains(old.KeyId, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("too-short")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")] // 31 bytes
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX")]
    public void Keys_that_are_not_32_bytes_of_base64_or_hex_are_rejected_with_the_setting_name(string key)
    {
        var e = Assert.Throws<ArgumentException>(() => new SecretBox(key));
        Assert.Contains("ARCHESTRA_SECRET_KEY must be 32 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hex_base64_and_url_safe_base64_forms_of_one_key_are_the_same_key()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        var hex = new SecretBox(Convert.ToHexString(bytes));
        var b64 = new SecretBox(Convert.ToBase64String(bytes));
        var url = new SecretBox(Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_'));
        Assert.Equal(hex.KeyId, b64.KeyId);
        Assert.Equal(hex.KeyId, url.KeyId);
        Assert.Equal("x", url.DecryptString(hex.Encrypt("x")));
    }
}
