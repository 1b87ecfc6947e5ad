using System.Text;
using System.Text.Json;
using Archestra.Gateway.Llm;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Policy;
using BenchmarkDotNet.Attributes;

namespace Archestra.Benchmarks;

/// <summary>
/// What conversation trust costs a chat request of ~16 KB: a body without tool results (only the byte search runs),
/// one with 4 tool results (parsed and each evaluated with the default settings), and the floor, one
/// Utf8JsonReader pass over the same body doing nothing.
/// </summary>
[MemoryDiagnoser]
public class LlmHistoryBenchmarks
{
    private readonly byte[] _plain = Body(toolResults: false);
    private readonly byte[] _withResults = Body(toolResults: true);
    private readonly ProfilePolicies _policies = PolicySnapshot.Empty.ForProfile("team");

    private static byte[] Body(bool toolResults)
    {
        var text = new string('x', 900);
        var messages = new StringBuilder();
        for (var i = 0; i < 16; i++)
        {
            if (messages.Length > 0)
            {
                messages.Append(',');
            }

            if (toolResults && i % 4 == 3)
            {
                messages.Append(
                    $$$"""{"role":"assistant","content":null,"tool_calls":[{"id":"call_{{{i}}}","type":"function","function":"""
                        + """{"name":"web__fetch","arguments":"{\"url\":\"https://example.com\"}"}}]},"""
                );
                messages.Append($$"""{"role":"tool","tool_call_id":"call_{{i}}","content":{{JsonSerializer.Serialize(text)}}}""");
            }
            else
            {
                messages.Append($$"""{"role":"{{(i % 2 == 0 ? "user" : "assistant")}}","content":"{{text}}"}""");
            }
        }

        return Encoding.UTF8.GetBytes($$"""{"model":"gpt-4o","stream":true,"messages":[{{messages}}]}""");
    }

    [Benchmark]
    public bool NoToolResults() => LlmConversation.TryEvaluate(_policies, LlmDialect.OpenAiChat, _plain, out _, out _);

    [Benchmark]
    public bool FourToolResults() => LlmConversation.TryEvaluate(_policies, LlmDialect.OpenAiChat, _withResults, out _, out _);

    [Benchmark]
    public int ReaderFloor()
    {
        var reader = new Utf8JsonReader(_withResults);
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }

        return tokens;
    }
}
