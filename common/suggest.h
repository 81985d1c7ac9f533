// "Did you mean ...?" for a mistyped name: the closest of the names a flag
// takes, by edit distance, so that `--preset ultrafastest` points at
// `ultrafast` instead of leaving the user to read the whole list.
#ifndef ANIFARM_COMMON_SUGGEST_H_
#define ANIFARM_COMMON_SUGGEST_H_

#include <string>
#include <vector>

namespace anifarm {

// Levenshtein distance (insertions, deletions, substitutions), ignoring case.
int EditDistance(const std::string& a, const std::string& b);

// The candidate closest to `given`, or "" when none is close enough to be a
// typo (more than a third of the longer name, at least 2, would differ):
// a far-off suggestion misleads more than none.
std::string ClosestName(const std::string& given, const std::vector<std::string>& candidates);

// "; did you mean 'ultrafast'?", or "" when ClosestName finds none: the end
// of an error message that names the bad value and lists the good ones.
std::string DidYouMean(const std::string& given, const std::vector<std::string>& candidates);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_SUGGEST_H_
