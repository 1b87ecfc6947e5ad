using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Llm.DualLlm;

/// <summary>
/// Summaries already made, by result. An agent sends its whole history with every turn, so without this each
/// sanitized result would be questioned again on every later turn (cost growing with the square of the turns), and
/// the main model would see a different summary of the same result each time. Process-local: another replica
/// makes its own summary once.
/// </summary>
internal sealed class DualLlmCache
{
    // A summary is a few hundred bytes; 4096 of them stay within a few MB.
    private const int Capacity = 4096;

    private readonly ConcurrentDictionary<string, string> _summaries = new(StringComparer.Ordinal);

    public int Count => _summaries.Count;

    /// <summary>The profile, both models, the call and the raw content: a change of any gives a new summary.</summary>
    public static string Key(string profile, DualLlmConfig config, string mainModel, string tool, string callId, ReadOnlySpan<byte> content)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var part in (ReadOnlySpan<string>)[profile, config.Provider, config.Model, mainModel, tool, callId])
        {
            hash.AppendData(Encoding.UTF8.GetBytes(part));
            hash.AppendData([0]);
        }

        hash.AppendData(content);
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    public bool TryGet(string key, out string summary) => _summaries.TryGetValue(key, out summary!);

    public void Add(string key, string summary)
    {
        if (_summaries.Count >= Capacity)
        {
            // Dropping all is cheap and rare; the next turns make their summaries again.
            _summaries.Clear();
        }

        _summaries[key] = summary;
    }
}
