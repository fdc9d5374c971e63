// For each iCalendar file named after the ical.js install folder, print one JSON line: the
// UTC start and end (Unix seconds) of the first occurrences of the first VEVENT, as
// ical.js (Mozilla's parser, in Thunderbird) reads them.
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
  const event = new ICAL.Event(calendar.getFirstSubcomponent("vevent"));
  console.log(JSON.stringify({ file, spans: spans(event) }));
}
