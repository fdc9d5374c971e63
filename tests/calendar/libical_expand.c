/* For each iCalendar file named on the command line, print one JSON line: the RFC 5546
 * restriction errors libical finds (X-LIC-ERROR), and the UTC start and end (Unix
 * seconds) of every occurrence of every VEVENT, as libical (Evolution, KDE) expands it. A
 * VEVENT with RECURRENCE-ID replaces the occurrence of its series starting then, as
 * Evolution's calendar store does (libical expands each component on its own).
 *
 * Build: gcc libical_expand.c $(pkg-config --cflags --libs libical)
 */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_SPANS 1000

struct spans {
    int count;
    time_t start[MAX_SPANS];
    time_t end[MAX_SPANS];
};

static void collect(icalcomponent *event, struct icaltime_span *span, void *data)
{
    struct spans *found = data;
    (void)event;
    if (found->count < MAX_SPANS) {
        found->start[found->count] = span->start;
        found->end[found->count] = span->end;
        found->count++;
    }
}

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = calloc((size_t)size + 1, 1);
    if (text != NULL && fread(text, 1, (size_t)size, file) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(file);
    return text;
}

static void print_json_string(const char *text)
{
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            printf("\\%c", *c);
        } else if ((unsigned char)*c < 0x20) {
            printf("\\u%04x", *c);
        } else {
            putchar(*c);
        }
    }
    putchar('"');
}

/* Every X-LIC-ERROR libical attached while parsing or checking, in `component` and below. */
static int print_errors(icalcomponent *component, int printed)
{
    for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_XLICERROR_PROPERTY);
         p != NULL; p = icalcomponent_get_next_property(component, ICAL_XLICERROR_PROPERTY)) {
        if (printed++) {
            putchar(',');
        }
        print_json_string(icalproperty_get_xlicerror(p));
    }
    for (icalcomponent *c = icalcomponent_get_first_component(component, ICAL_ANY_COMPONENT);
         c != NULL; c = icalcomponent_get_next_component(component, ICAL_ANY_COMPONENT)) {
        printed = print_errors(c, printed);
    }
    return printed;
}

static int report(const char *path)
{
    char *text = read_file(path);
    icalcomponent *calendar = text ? icalparser_parse_string(text) : NULL;
    free(text);
    if (calendar == NULL) {
        fprintf(stderr, "%s: not readable as iCalendar\n", path);
        return 1;
    }
    int valid = icalrestriction_check(calendar);
    static struct spans found;
    found.count = 0;
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    for (icalcomponent *event = icalcomponent_get_first_component(calendar, ICAL_VEVENT_COMPONENT);
         event != NULL; event = icalcomponent_get_next_component(calendar, ICAL_VEVENT_COMPONENT)) {
        icalproperty *rid = icalcomponent_get_first_property(event, ICAL_RECURRENCEID_PROPERTY);
        if (rid != NULL && icalcomponent_get_first_property(event, ICAL_RRULE_PROPERTY) == NULL) {
            /* the occurrence it replaces goes: its start is the RECURRENCE-ID */
            struct icaltimetype when = icalcomponent_get_recurrenceid(event);
            const char *tzid = icalproperty_get_parameter_as_string(rid, "TZID");
            icaltimezone *zone = tzid ? icalcomponent_get_timezone(calendar, tzid) : utc;
            time_t replaced = icaltime_as_timet_with_zone(when, zone ? zone : utc);
            for (int i = 0; i < found.count; i++) {
                if (found.start[i] == replaced) {
                    found.start[i] = found.start[found.count - 1];
                    found.end[i] = found.end[found.count - 1];
                    found.count--;
                    break;
                }
            }
        }
        icalcomponent_foreach_recurrence(event, icaltime_from_timet_with_zone(0, 0, utc),
                                         icaltime_from_string("21000101T000000Z"), collect,
                                         &found);
    }
    printf("{\"file\":");
    print_json_string(path);
    printf(",\"valid\":%s,\"errors\":[", valid ? "true" : "false");
    print_errors(calendar, 0);
    printf("],\"spans\":[");
    for (int i = 0; i < found.count; i++) {
        printf("%s[%lld,%lld]", i ? "," : "", (long long)found.start[i], (long long)found.end[i]);
    }
    printf("]}\n");
    icalcomponent_free(calendar);
    return 0;
}

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        failed |= report(argv[i]);
    }
    return failed;
}
