using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>
/// A resource the admin API keeps in the store, described once: its routes (<c>{Path}</c> and <c>{Path}/{{Key}}</c>),
/// its repository, its key and its body. <see cref="AdminHandlers.AddResourceRoutes"/> maps list, get, create,
/// replace and delete for it, and every write takes the one path (<see cref="AdminHandlers.SaveAsync"/>).
/// </summary>
/// <param name="Kind">The change log's resource kind.</param>
/// <param name="What">The resource in messages ("limit 'x' does not exist").</param>
/// <param name="Read">
/// Reads and validates a request body into a row without its key and times (<paramref name="Read"/>'s second argument
/// is the key the route names, null on create); null with the problems in the list.
/// </param>
/// <param name="Stamp">The row to write: the read one with its key and times (the current row when replacing, else null).</param>
/// <param name="Check">Refuses a row that does not fit the others (409, or 422 naming a field); null when it fits.</param>
internal sealed record AdminResource<TRow, TBody>(
    string Kind,
    string What,
    string Path,
    string Key,
    Repository<TRow> Repository,
    Func<TRow, string> KeyOf,
    Func<TRow, TBody> Body,
    JsonTypeInfo<TBody> BodyType,
    JsonTypeInfo<ItemsBody<TBody>> ListType,
    Func<JsonElement, string?, List<FieldError>, TRow?> Read,
    Func<TRow, TRow?, DateTime, TRow> Stamp,
    Func<TRow, TRow?, IReadOnlyList<TRow>, CancellationToken, Task<AdminResult?>> Check
)
    where TRow : class
{
    /// <summary>The conflict message of a create that names a key in use.</summary>
    public Func<string, string>? Taken { get; init; }

    public AdminResult Answer(int status, TRow row) => AdminResult.Json(status, AdminBodies.Writer(Body(row), BodyType));
}

/// <summary>The resources' summaries in the OpenAPI document, per route.</summary>
internal sealed record ResourceSummaries(string List, string Create, string Get, string Replace, string Delete);

internal sealed partial class AdminHandlers
{
    /// <summary>Maps the five routes of <paramref name="resource"/>.</summary>
    private void AddResourceRoutes<TRow, TBody>(
        List<AdminRoute> routes,
        string tag,
        AdminResource<TRow, TBody> resource,
        ResourceSummaries summaries,
        JsonTypeInfo request
    )
        where TRow : class
    {
        var item = $"{resource.Path}/{{{resource.Key}}}";
        routes.Add(new("GET", resource.Path, tag, summaries.List, (h, c) => ListAsync(resource, h)) { Response = resource.ListType });
        routes.Add(
            new("POST", resource.Path, tag, summaries.Create, (h, c) => SaveAsync(resource, h, c, null), Body: true)
            {
                Request = request,
                Response = resource.BodyType,
            }
        );
        routes.Add(new("GET", item, tag, summaries.Get, (h, c) => GetAsync(resource, h)) { Response = resource.BodyType });
        routes.Add(
            new("PUT", item, tag, summaries.Replace, (h, c) => SaveAsync(resource, h, c, AdminRequest.Route(h, resource.Key)), Body: true)
            {
                Request = request,
                Response = resource.BodyType,
            }
        );
        routes.Add(new("DELETE", item, tag, summaries.Delete, (h, c) => DeleteAsync(resource, h, c)));
    }

    private static async Task<AdminResult> ListAsync<TRow, TBody>(AdminResource<TRow, TBody> resource, HttpContext http)
        where TRow : class
    {
        var rows = await resource.Repository.ListAsync(http.RequestAborted).ConfigureAwait(false);
        var body = new ItemsBody<TBody>(rows.Select(resource.Body).ToList());
        return AdminResult.Ok(AdminBodies.Writer(body, resource.ListType));
    }

    private static async Task<AdminResult> GetAsync<TRow, TBody>(AdminResource<TRow, TBody> resource, HttpContext http)
        where TRow : class
    {
        var key = AdminRequest.Route(http, resource.Key);
        var rows = await resource.Repository.ListAsync(http.RequestAborted).ConfigureAwait(false);
        return rows.FirstOrDefault(r => resource.KeyOf(r) == key) is { } row
            ? resource.Answer(StatusCodes.Status200OK, row)
            : AdminResult.NotFound(resource.What, key);
    }

    /// <summary>
    /// A create (<paramref name="existingKey"/> null) or a replace: the body read and validated (422 with paths); then,
    /// under the change lock, the current row found (404, or 409 when a create names a taken key), the new row checked
    /// against the others, and written with its change-log row in one transaction (<see cref="ChangeAsync"/>).
    /// </summary>
    internal async Task<AdminResult> SaveAsync<TRow, TBody>(AdminResource<TRow, TBody> resource, HttpContext http, Caller caller, string? existingKey)
        where TRow : class
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new List<FieldError>();
        TRow? read;
        using (document)
        {
            read = resource.Read(document!.RootElement, existingKey, errors);
        }

        if (errors.Count > 0 || read is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var rows = await resource.Repository.ListAsync(ct).ConfigureAwait(false);
            var key = existingKey ?? resource.KeyOf(read);
            var current = rows.FirstOrDefault(r => resource.KeyOf(r) == key);
            if (existingKey is not null && current is null)
            {
                return AdminResult.NotFound(resource.What, existingKey);
            }

            if (existingKey is null && current is not null)
            {
                return AdminResult.Conflict(resource.Taken?.Invoke(key) ?? $"{resource.What} '{key}' already exists; change it with PUT {resource.Path}/{key}");
            }

            var row = resource.Stamp(read, current, AuditTime.Truncate(DateTime.UtcNow));
            if (await resource.Check(row, current, rows, ct).ConfigureAwait(false) is { } refusal)
            {
                return refusal;
            }

            var body = resource.Body(row);
            await ChangeAsync(
                    caller,
                    current is null ? "create" : "update",
                    resource.Kind,
                    resource.KeyOf(row),
                    tx => current is null ? resource.Repository.InsertAsync(tx, row, ct) : resource.Repository.UpdateAsync(tx, row, ct),
                    AdminBodies.Writer(body, resource.BodyType),
                    ct
                )
                .ConfigureAwait(false);
            return resource.Answer(current is null ? StatusCodes.Status201Created : StatusCodes.Status200OK, row);
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>Deletes the row the route names (404 when there is none), under the change lock, with its change-log row.</summary>
    private async Task<AdminResult> DeleteAsync<TRow, TBody>(AdminResource<TRow, TBody> resource, HttpContext http, Caller caller)
        where TRow : class
    {
        var ct = http.RequestAborted;
        var key = AdminRequest.Route(http, resource.Key);
        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var rows = await resource.Repository.ListAsync(ct).ConfigureAwait(false);
            if (rows.FirstOrDefault(r => resource.KeyOf(r) == key) is not { } row)
            {
                return AdminResult.NotFound(resource.What, key);
            }

            await ChangeAsync(caller, "delete", resource.Kind, key, tx => resource.Repository.DeleteAsync(tx, row, ct), NoDetails, ct).ConfigureAwait(false);
            return AdminResult.NoContent;
        }
        finally
        {
            _changing.Release();
        }
    }
}
