// Umbrella header of the grlm C++ core.
#pragma once

#include "grlm/catalog.h"
#include "grlm/cuda_structural.h"
#include "grlm/direct_map.h"
#include "grlm/error.h"
#include "grlm/grounder.h"
#include "grlm/index_file.h"
#include "grlm/item_score.h"
#include "grlm/partial_credit.h"
#include "grlm/snapshot_cell.h"
#include "grlm/structural.h"
#include "grlm/term_vocab.h"
#include "grlm/token_trie.h"
#include "grlm/types.h"
#include "grlm/updatable_grounder.h"
