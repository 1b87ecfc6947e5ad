using System.Security.Cryptography;
using System.Text;

namespace Archestra.Storage;

/// <summary>A secret sealed by <see cref="SecretBox"/>: AES-256-GCM ciphertext with its 16-byte tag appended.</summary>
public sealed record SealedSecret(byte[] Ciphertext, byte[] Nonce, string KeyId);

/// <summary>
/// AES-256-GCM for secrets at rest (LLM provider API keys) under <c>ARCHESTRA_SECRET_KEY</c>. The key is used as
/// given (32 random bytes, base64 or hex): nothing is derived from a passphrase. Each sealed value names its key
/// by <see cref="KeyId"/>, a fingerprint of the key, so after a rotation the previous keys still open older rows
/// while new ones are sealed under the current key. Associated data (e.g. the provider and key name) binds a
/// ciphertext to its row: moving it to another row makes <see cref="Decrypt"/> fail.
/// </summary>
public sealed class SecretBox
{
    private const int KeySize = 32;
    private const int NonceSize = 12; // AesGcm.NonceByteSizes: 96-bit nonces, random per message (NIST SP 800-38D 8.2.2)
    private const int TagSize = 16;

    private readonly byte[] _key;
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    /// <param name="key">The current key, 32 bytes as base64 or hex.</param>
    /// <param name="previousKeys">Older keys that can still decrypt.</param>
    public SecretBox(string key, params IEnumerable<string> previousKeys)
    {
        _key = ParseKey(key, "ARCHESTRA_SECRET_KEY");
        KeyId = Fingerprint(_key);
        _keys[KeyId] = _key;
        foreach (var old in previousKeys)
        {
            var bytes = ParseKey(old, "previous secret key");
            _keys.TryAdd(Fingerprint(bytes), bytes);
        }
    }

    /// <summary>The id stored with everything this box seals: "k" + 16 hex digits of SHA-256 over a label and the key.</summary>
    public string KeyId { get; }

    public SealedSecret Encrypt(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData = default)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var output = new byte[plaintext.Length + TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), associatedData);
        return new SealedSecret(output, nonce, KeyId);
    }

    public SealedSecret Encrypt(string plaintext, string? associatedData = null) =>
        Encrypt(Encoding.UTF8.GetBytes(plaintext), associatedData is null ? default : Encoding.UTF8.GetBytes(associatedData));

    /// <summary>
    /// Opens a sealed secret. Throws <see cref="CryptographicException"/> when the ciphertext, nonce or associated
    /// data were altered, and <see cref="KeyNotFoundException"/> when it was sealed under a key this box lacks.
    /// </summary>
    public byte[] Decrypt(SealedSecret secret, ReadOnlySpan<byte> associatedData = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (!_keys.TryGetValue(secret.KeyId, out var key))
        {
            throw new KeyNotFoundException(
                $"The secret was sealed under key {secret.KeyId}, which is neither ARCHESTRA_SECRET_KEY ({KeyId}) nor a configured previous key."
            );
        }

        if (secret.Nonce.Length != NonceSize || secret.Ciphertext.Length < TagSize)
        {
            throw new CryptographicException("The sealed secret is malformed.");
        }

        var length = secret.Ciphertext.Length - TagSize;
        var plaintext = new byte[length];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(secret.Nonce, secret.Ciphertext.AsSpan(0, length), secret.Ciphertext.AsSpan(length), plaintext, associatedData);
        return plaintext;
    }

    public string DecryptString(SealedSecret secret, string? associatedData = null) =>
        Encoding.UTF8.GetString(Decrypt(secret, associatedData is null ? default : Encoding.UTF8.GetBytes(associatedData)));

    /// <summary>True when the value is sealed under an older key and should be re-sealed under the current one.</summary>
    public bool NeedsRotation(SealedSecret secret) => !string.Equals(secret?.KeyId, KeyId, StringComparison.Ordinal);

    /// <summary>32 bytes from base64 (standard or URL-safe) or 64 hex digits; anything else throws, naming the setting.</summary>
    public static byte[] ParseKey(string value, string settingName = "ARCHESTRA_SECRET_KEY")
    {
        var text = value?.Trim() ?? "";
        if (text.Length == KeySize * 2 && IsHex(text))
        {
            return Convert.FromHexString(text);
        }

        var buffer = new byte[KeySize + 3];
        var normalized = text.Replace('-', '+').Replace('_', '/');
        if (normalized.Length % 4 != 0)
        {
            normalized = normalized.PadRight(normalized.Length + (4 - (normalized.Length % 4)), '=');
        }

        if (Convert.TryFromBase64String(normalized, buffer, out var written) && written == KeySize)
        {
            return buffer.AsSpan(0, KeySize).ToArray();
        }

        throw new ArgumentException(
            $"{settingName} must be 32 bytes encoded as base64 or as 64 hex digits (generate one with `openssl rand -base64 32`).",
            nameof(value)
        );
    }

    private static bool IsHex(string text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static string Fingerprint(byte[] key)
    {
        Span<byte> input = stackalloc byte[KeySize + 20];
        "archestra-key-id:"u8.CopyTo(input);
        key.CopyTo(input[17..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input[..(17 + KeySize)], hash);
        return "k" + Convert.ToHexStringLower(hash[..8]);
    }
}
