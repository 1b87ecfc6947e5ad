using Archestra.Gateway.Configuration;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary><c>/api/admin-keys</c>: keys are stored as SHA-256 hashes; the key itself is returned once, at creation.</summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_adminKeyKeys = AdminBodies.Keys(AdminJson.Default.AdminKeyRequest);

    private void AddKeyRoutes(List<AdminRoute> routes)
    {
        routes.Add(
            new("GET", "/api/admin-keys", "admin-keys", "List admin keys (never the secrets)", (h, c) => ListKeysAsync(h))
            {
                Response = AdminJson.Default.ItemsBodyAdminKeyBody,
            }
        );
        const string create = "Create an admin key (scope read-only or read-write); the key is returned only in this response";
        routes.Add(
            new("POST", "/api/admin-keys", "admin-keys", create, CreateKeyAsync, Body: true)
            {
                Request = AdminJson.Default.AdminKeyRequest,
                Response = AdminJson.Default.AdminKeyBody,
            }
        );
        routes.Add(new("DELETE", "/api/admin-keys/{name}", "admin-keys", "Revoke (delete) an API-managed admin key", DeleteKeyAsync));
    }

    private Task<IReadOnlyList<AdminKeyRow>> LoadKeysAsync(CancellationToken ct) => Store.AdminKeys.ListAsync(ct);

    private async Task<AdminResult> ListKeysAsync(HttpContext http)
    {
        var keys = await LoadKeysAsync(http.RequestAborted).ConfigureAwait(false);
        var items = File
            .AdminKeys.Select(static k => new AdminKeyBody(k.Name, k.CanWrite ? "read-write" : "read-only", "file"))
            .Concat(keys.Select(k => KeyBody(k, null)))
            .ToList();
        return AdminResult.Ok(new ItemsBody<AdminKeyBody>(items), AdminJson.Default.ItemsBodyAdminKeyBody);
    }

    private static AdminKeyBody KeyBody(AdminKeyRow key, string? secret) =>
        new(key.Name, key.ReadWrite ? "read-write" : "read-only", "api", key.CreatedAt, key.LastUsedAt, secret);

    private async Task<AdminResult> CreateKeyAsync(HttpContext http, Caller caller)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var errors = new List<FieldError>();
        AdminRequest.UnknownKeys(doc.RootElement, "$", s_adminKeyKeys, errors);
        var name = AdminRequest.RequiredString(doc.RootElement, "name", errors);
        var scope = AdminRequest.RequiredString(doc.RootElement, "scope", errors);
        if (name is not null && !ConfigReader.IsName(name))
        {
            errors.Add(new FieldError("$.name", "a key name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"));
        }

        if (scope is not null and not "read-only" and not "read-write")
        {
            errors.Add(new FieldError("$.scope", $"expected one of read-only, read-write, got '{scope}'"));
        }

        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var keys = await LoadKeysAsync(ct).ConfigureAwait(false);
            if (File.AdminKeys.Any(k => k.Name == name) || keys.Any(k => k.Name == name))
            {
                return AdminResult.Conflict($"an admin key named '{name}' already exists");
            }

            var secret = AdminApi.NewSecret(AdminApi.KeyPrefix);
            var key = new AdminKeyRow(
                Guid.CreateVersion7(),
                name!,
                SecretHash.Compute(secret),
                scope == "read-write",
                ManagedBy.Api,
                AuditTime.Truncate(DateTime.UtcNow),
                null
            );
            await ChangeAsync(
                    caller,
                    "create",
                    "admin-key",
                    key.Name,
                    tx => Store.AdminKeys.InsertAsync(tx, key, ct),
                    w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("scope"u8, scope);
                        w.WriteEndObject();
                    },
                    ct
                )
                .ConfigureAwait(false);
            return AdminResult.Created(KeyBody(key, secret), AdminJson.Default.AdminKeyBody);
        }
        finally
        {
            _changing.Release();
        }
    }

    private async Task<AdminResult> DeleteKeyAsync(HttpContext http, Caller caller)
    {
        var ct = http.RequestAborted;
        var name = AdminRequest.Route(http, "name");
        if (File.AdminKeys.Any(k => k.Name == name))
        {
            return AdminResult.FileManaged("admin key", name);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var keys = await LoadKeysAsync(ct).ConfigureAwait(false);
            if (keys.FirstOrDefault(k => k.Name == name) is not { } key)
            {
                return AdminResult.NotFound("admin key", name);
            }

            if (key.ReadWrite && !File.AdminKeys.Any(k => k.CanWrite) && keys.Count(k => k.ReadWrite) == 1)
            {
                return AdminResult.Conflict($"'{name}' is the last read-write admin key; create another one first, or nobody could change anything");
            }

            await ChangeAsync(caller, "delete", "admin-key", name, tx => Store.AdminKeys.DeleteAsync(tx, key, ct), NoDetails, ct).ConfigureAwait(false);
            return AdminResult.NoContent;
        }
        finally
        {
            _changing.Release();
        }
    }
}
