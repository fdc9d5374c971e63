// For each iCalendar file named after the ical.js install folder, print one JSON line: the
// UTC start and end (Unix seconds) of the first occurrences of every event, as ical.js
// (Mozilla's parser, in Thunderbird) reads them. A VEVENT with RECURRENCE-ID is an
// exception of the series with its UID (a moved occurrence), related as Thunderbird does.
//
// Usage: node icaljs_expand.mjs ICALJS_DIR FILE...   (ICALJS_DIR: the npm --prefix folder)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const LIMIT = 10;
const [dir, ...files] = process.argv.slice(2);
const module = join(dir, "node_modules", "ical.js", "dist", "ical.js");
const ICAL = (await import(pathToFileURL(module).href)).default;

function spans(event) {
  if (!event.isRecurring()) {
    return [[event.startDate.toUnixTime(), event.endDate.toUnixTime()]];
  }
  const found = [];
  const iterator = event.iterator();
  for (let next = iterator.next(); next && found.length < LIMIT; next = iterator.next()) {
    const details = event.getOccurrenceDetails(next);
    found.push([details.startDate.toUnixTime(), details.endDate.toUnixTime()]);
  }
  return found;
}

for (const file of files) {
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
  const events = calendar.getAllSubcomponents("vevent").map((c) => new ICAL.Event(c));
  const masters = events.filter((e) => !e.isRecurrenceException());
  for (const exception of events.filter((e) => e.isRecurrenceException())) {
    const master = masters.find((m) => m.uid === exception.uid);
    if (master) {
      master.relateException(exception);
    } else {
      masters.push(exception); // an occurrence on its own (a per-occurrence message)
    }
  }
  console.log(JSON.stringify({ file, spans: masters.flatMap(spans) }));
}
