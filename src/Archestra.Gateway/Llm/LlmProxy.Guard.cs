using System.Buffers;
using Archestra.Gateway.Configuration;
using Archestra.Runtime.Buffers;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Llm;

/// <summary>Tool-call security on the LLM path: the conversation's trust from the request, the guard on the answer.</summary>
internal sealed partial class LlmProxy
{
    private sealed partial class Exchange
    {
        /// <summary>The generation API the request is written for.</summary>
        public LlmApi Api => Kind == LlmProviderKind.Anthropic ? LlmApi.Messages
            : Context.Request.RouteValues["rest"] as string == "responses" ? LlmApi.Responses
            : LlmApi.ChatCompletions;

        /// <summary>The tool results of the request with their decisions, and the trust they leave; null before the rules ran.</summary>
        public LlmConversation? Conversation { get; private set; }

        /// <summary>Evaluates tool calls in the answer; null when the profile turned it off or the request offered no tools.</summary>
        public LlmToolGuard? Guard { get; private set; }

        /// <summary>
        /// Reads the profile's policies once for the request, evaluates the history's tool results with the
        /// trusted-data policies, and arms the guard when the request offers tools. A history that hides what a
        /// result is gets a 400 in the provider's format.
        /// </summary>
        private async Task<bool> EvaluateConversationAsync(LlmProxy proxy)
        {
            var policies = proxy._state.Policies.ForProfile(Profile.Name);
            if (!LlmConversation.TryEvaluate(policies, Kind, Api, _body.AsSpan(0, _length), out var conversation, out var error))
            {
                await FailAsync(LlmError.BadRequest, $"Invalid request: {error}.").ConfigureAwait(false);
                return false;
            }

            Conversation = conversation;
            if (Profile.ToolGuard && Body.HasTools)
            {
                Guard = new LlmToolGuard(Kind, Api, conversation);
            }

            return true;
        }

        /// <summary>A JSON answer to a request that offered tools: read whole (tool calls are decided on the whole call), rewritten when a call is refused.</summary>
        private async Task RelayGuardedBodyAsync(Stream upstream, HttpResponse response, CancellationToken cancellationToken)
        {
            var buffer = BytePool.Rent(InitialBufferSize);
            var length = 0;
            try
            {
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        buffer = Grow(buffer, "a JSON answer");
                    }

                    var n = await upstream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    length += n;
                }

                Scanner.Feed(buffer.AsSpan(0, length), final: true);
                if (LlmToolGuard.Unreadable(buffer.AsSpan(0, length)) is { } why)
                {
                    response.Headers.Clear();
                    await FailAsync(LlmError.UpstreamProtocol, $"The provider's answer was not relayed: {why}.").ConfigureAwait(false);
                    return;
                }

                var rewritten = Guard!.RewriteAnswer(buffer.AsSpan(0, length));
                ReadOnlyMemory<byte> answer = rewritten ?? buffer.AsMemory(0, length);
                response.ContentLength = answer.Length;
                await response.BodyWriter.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                BytePool.Return(buffer);
            }
        }

        /// <summary>A full pooled buffer, doubled (its bytes kept); <paramref name="what"/> names the content when it passes the limit.</summary>
        private static byte[] Grow(byte[] buffer, string what)
        {
            if (buffer.Length >= MaxEventBytes)
            {
                throw new InvalidDataException($"{what} larger than {MaxEventBytes} bytes");
            }

            var bigger = BytePool.Rent(buffer.Length * 2);
            buffer.CopyTo(bigger, 0);
            BytePool.Return(buffer);
            return bigger;
        }

        /// <summary>One event through the guard, without the range the usage handling cut from it.</summary>
        private void RelayGuarded(ReadOnlySpan<byte> evt, int cutStart, int cutEnd, IBufferWriter<byte> output)
        {
            if (cutStart < 0)
            {
                Guard!.Relay(evt, output);
                return;
            }

            var length = evt.Length - (cutEnd - cutStart);
            var joined = BytePool.Rent(length);
            evt[..cutStart].CopyTo(joined);
            evt[cutEnd..].CopyTo(joined.AsSpan(cutStart));
            Guard!.Relay(joined.AsSpan(0, length), output);
            BytePool.Return(joined);
        }
    }
}
